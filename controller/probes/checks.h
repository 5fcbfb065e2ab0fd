// The pure half of the probes: comparisons of measured numbers against a
// probe's threshold, lookups of dotted JSON paths, and the parsing of a
// Prometheus instant-query response. probe.cc does the I/O and calls these;
// keeping them pure lets the edge cases (NaN, a vector of three series, an
// index past the end of an array) be tested without a server.
//
// Every function is pure and thread-safe. Error messages are lowercase and
// name the object, ready to be used as a probe's `error` after a prefix.
#ifndef FAULTLINE_CONTROLLER_PROBES_CHECKS_H_
#define FAULTLINE_CONTROLLER_PROBES_CHECKS_H_

#include <string>

#include "absl/status/statusor.h"
#include "controller/spec/experiment.h"
#include "nlohmann/json.hpp"

namespace faultline::controller {

// The shortest text that reads back as `value`; integral values print without
// exponent or fraction up to 1e15 ("1", "0.25", "1e+20", "NaN", "+Inf", "-Inf").
std::string FormatProbeValue(double value);

// Whether `value` satisfies `op` against `low` (and `high` for kBetween,
// inclusive at both ends). NaN never satisfies anything.
bool Compare(double value, Comparison op, double low, double high);

// The expectation as people read it: "< 5", "== 1", "between 1 and 5".
std::string DescribeExpectation(Comparison op, double low, double high);

// The element at `path` in `root`: dot-separated object keys, each optionally
// followed by one or more [index] ("data.items[0].state", "[2]", "a.b[1][0]").
// A key may not be empty. NotFound names the first step that is missing
// ("no key \"state\" in data.items[0]", "data.items has 2 elements, no [3]");
// InvalidArgument when the path itself is malformed ("malformed path \"a..b\":
// empty key") or a step meets the wrong type ("data.items is a string, not an
// array").
absl::StatusOr<const nlohmann::json*> JsonAt(const nlohmann::json& root, const std::string& path);

// Evaluates one JsonCheck against `root`. Returns the failure message without
// a prefix ("json field data.state: got \"down\", want == \"up\""), or "" when
// the check holds. Numbers compare with any Comparison; a string that holds a
// number in full ("0.5") counts as that number. Strings, booleans and null
// compare with == against check.text ("true", "false", "null" for the latter).
// When the field is numeric, `*number` (may be null) receives it.
std::string EvaluateJsonCheck(const nlohmann::json& root, const JsonCheck& check, double* number);

// One sample from a Prometheus HTTP API instant-query response body
// (`/api/v1/query`, https://prometheus.io/docs/prometheus/latest/querying/api/).
struct PrometheusSample {
  double value = 0;     // may be NaN or +/-Inf, as Prometheus returned it
  std::string series;  // "up{instance=\"h:9100\", job=\"demo\"}" for a vector; "" for a scalar
};

// Parses `body` (whatever the HTTP status was: Prometheus reports query
// errors as JSON with 4xx/5xx). Accepts resultType "scalar", or "vector" with
// exactly one series. Errors (all InvalidArgument except where noted), with
// messages such as:
//   "query failed: bad_data: invalid parameter ..."     (status "error")
//   "query returned 3 series, expected 1"               (FailedPrecondition)
//   "query returned 0 series, expected 1"               (FailedPrecondition)
//   "query returned a matrix, expected a scalar or one series"
//   "response is not JSON: ..." / "response has no data.result"
absl::StatusOr<PrometheusSample> ParsePrometheusResponse(const std::string& body);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_PROBES_CHECKS_H_
