// Rules the experiment and inventory readers share: what a name, an agent
// address, a label map and an http url may look like, how small value types
// (booleans, uint64 seeds) are read, how a spec file is read, and how the
// collected diagnostics become the one InvalidArgument status both parsers
// return.
//
// Internal to the controller's YAML readers (controller/spec, and the serve
// config in controller/serve, which reads and reports the same way). Pure
// functions, thread-safe.
#ifndef FAULTLINE_CONTROLLER_SPEC_RULES_H_
#define FAULTLINE_CONTROLLER_SPEC_RULES_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/spec/experiment.h"
#include "common/yaml/fields.h"
#include "common/yaml/yaml_tree.h"

namespace faultline::controller {

inline constexpr size_t kMaxNameLength = 63;

// Experiment, target, probe and rollback action names: 1..63 lowercase
// letters, digits and '-' (and '_' when allowed), starting with a letter or
// digit. They end up in run ids, file names and other sections' references.
bool IsName(absl::string_view s, bool allow_underscore);

// "host:port" or "[v6]:port" with port 1..65535; the host is a name or an
// address.
bool IsHostPort(absl::string_view s);

// IsHostPort or "unix:/absolute/path".
bool IsAgentAddress(absl::string_view s);

// "a duration greater than 0 and at most 24h".
std::string DurationRange(std::chrono::milliseconds max);
// "a duration of at least 100ms and at most 1h".
std::string DurationBetween(std::chrono::milliseconds min, std::chrono::milliseconds max);

// "\"text\"" with C escapes.
std::string Quote(absl::string_view text);

// "a", "a or b", "a, b or c"; "" for no words.
std::string OrList(const std::vector<std::string>& words);

// True when `a` comes before `b` in the same document (line, then column):
// of two conflicting keys, the second one written is where a conflict is
// reported.
bool WrittenBefore(const SourceLocation& a, const SourceLocation& b);

// A label map (metadata.labels, a target's select, an inventory agent's
// labels): a mapping of label names (1..63 letters, digits, '-', '_', '.',
// '/', starting with a letter or digit) to string values. `field` names it in
// messages ("metadata.labels"). Reports every problem; nullopt if any.
std::optional<std::map<std::string, std::string>> ReadLabels(const YamlNode& node,
                                                             absl::string_view field,
                                                             Diagnostics* diagnostics);

// An "http://host..." url (https is not supported yet). `field` is the full
// name used in messages ("probe \"web\": http.url").
std::optional<std::string> ReadHttpUrl(const YamlNode& node, absl::string_view field,
                                       Diagnostics* diagnostics);

// true or false (any case).
std::optional<bool> ReadBool(const YamlNode& node, absl::string_view field,
                             Diagnostics* diagnostics);

// A non-empty string that is not only whitespace.
std::optional<std::string> ReadNonEmptyString(const YamlNode& node, absl::string_view field,
                                              Diagnostics* diagnostics);

// An unsigned 64-bit integer written in decimal.
std::optional<uint64_t> ReadUint64(const YamlNode& node, absl::string_view field,
                                   Diagnostics* diagnostics);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SPEC_RULES_H_
