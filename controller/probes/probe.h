// Probes: checks of the system under test that decide whether the steady
// state holds. The run engine calls RunProbe before and after the method (and
// every interval during it) and journals every result.
//
//   http        GET url: status, body regex (RE2, searched), JSON field
//               comparisons, max latency; every failing check is reported
//   tcp         connect to host:port
//   exec        /bin/sh -c command: exit code, regex on stdout+stderr
//   prometheus  GET {server}/api/v1/query?query=...: the one sample (a scalar
//               or a one-series vector) compared with op/value[/value_high]
//
// A probe never throws and never fails as a function: an unreachable service
// is a failed probe result, not an error. Thread-safe (no shared state; call
// InitProbes() once from main before threads start).
#ifndef FAULTLINE_CONTROLLER_PROBES_PROBE_H_
#define FAULTLINE_CONTROLLER_PROBES_PROBE_H_

#include <chrono>
#include <optional>
#include <string>

#include "controller/spec/experiment.h"

namespace faultline::controller {

struct ProbeResult {
  bool ok = false;
  std::chrono::microseconds latency{0};  // the whole check, request or command
  // The measured number the probe compared, when there is one: the
  // prometheus result (unset when it is NaN; may be +/-Inf), or the first
  // numeric field among an http probe's JSON checks. tcp/exec: unset.
  std::optional<double> value;
  // What was seen, e.g. "status 200", "status 200, data.state=\"up\"",
  // "connected", "exit 0", "value 1 for up{job=\"demo\"}".
  std::string detail;
  // Why it failed, empty when ok; every failed check, "; "-separated, e.g.
  // "latency 312 ms > max 200 ms; json field data.state: got \"down\", want == \"up\"",
  // "prometheus: query returned 3 series, expected 1", "command exited 3, want 0".
  std::string error;
};

// One-time process setup (libcurl global init). Idempotent.
void InitProbes();

// Runs `probe` once, bounded by probe.timeout (an exec probe's whole process
// group is killed at the timeout). Response bodies are read up to 4 MiB and
// command output up to 1 MiB; a larger body fails the probe, longer output is
// cut (the regex sees the first MiB).
ProbeResult RunProbe(const Probe& probe);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_PROBES_PROBE_H_
