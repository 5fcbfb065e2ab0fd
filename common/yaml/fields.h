// Helpers the experiment validator uses to read a YamlNode tree and report
// problems: a diagnostics collector, a mapping reader that knows which keys
// it has consumed (so unknown keys get "did you mean" suggestions), and typed
// value readers that name the field and what is allowed.
//
// Used by controller/spec and the agent config reader. Not thread-safe; one
// instance per parse.
#ifndef FAULTLINE_COMMON_YAML_FIELDS_H_
#define FAULTLINE_COMMON_YAML_FIELDS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/yaml/diagnostic.h"
#include "common/yaml/yaml_tree.h"

namespace faultline {

// Collects diagnostics in the order found; the caller sorts them.
class Diagnostics {
 public:
  void Add(const SourceLocation& where, std::string message) {
    list_.push_back(Diagnostic{where, std::move(message)});
  }
  size_t size() const { return list_.size(); }
  std::vector<Diagnostic>& list() { return list_; }

 private:
  std::vector<Diagnostic> list_;
};

// Optimal-string-alignment distance (insert, delete, substitute, swap of
// neighbours each cost 1).
int EditDistance(absl::string_view a, absl::string_view b);

// The entry of `known` closest to `word` if it is close enough to be a
// plausible typo (distance 1, or 2 for words of 5+ characters), else "".
std::string Suggest(absl::string_view word, const std::vector<std::string>& known);

// How a value reads in a message: 150, "abc", a mapping, a sequence, nothing.
std::string Describe(const YamlNode& node);

// "12:7" (for "first defined at" notes).
std::string LineColumn(const SourceLocation& where);

// Reads one mapping. Every key looked up through Get/Require/Later becomes
// known; Finish() reports each key that is not known as unknown, with a
// suggestion. Duplicate keys and non-string keys are reported on
// construction; lookups see the first occurrence.
class Fields {
 public:
  // `mapping` must outlive this object and be a mapping. `context` names it
  // in messages: "metadata", "cpu.pressure params", "probe \"web\"".
  Fields(const YamlNode& mapping, std::string context, Diagnostics* diagnostics);

  // The value of `key`, or null when absent.
  const YamlNode* Get(absl::string_view key);
  // As Get, but reports `missing required field "key" in <context>` at the
  // mapping's location when absent.
  const YamlNode* Require(absl::string_view key);
  // A key a later version of faultline understands: if present, reports
  // "\"key\" is not supported yet by this version of faultline".
  void Later(absl::string_view key);
  // The key node of `key` (for positions), or null when absent.
  const YamlNode* Key(absl::string_view key) const;
  // Reports every key not consumed by Get/Require/Later.
  void Finish();

  const SourceLocation& where() const { return mapping_.where; }
  const std::string& context() const { return context_; }

 private:
  const YamlNode& mapping_;
  std::string context_;
  Diagnostics* diagnostics_;
  std::vector<std::string> known_;
};

// Typed readers. On a bad value each appends "<field> must be <allowed>, got
// <value>" at the value and returns nullopt. `field` is the full name used
// in messages, e.g. "cpu.pressure: load".
std::optional<std::string> ReadString(const YamlNode& node, absl::string_view field,
                                      Diagnostics* diagnostics);
std::optional<int64_t> ReadInt(const YamlNode& node, absl::string_view field, int64_t min,
                               int64_t max, absl::string_view allowed, Diagnostics* diagnostics);
// Finite number with min < value <= max (min_exclusive) or min <= value <= max.
std::optional<double> ReadNumber(const YamlNode& node, absl::string_view field, double min,
                                 bool min_exclusive, double max, absl::string_view allowed,
                                 Diagnostics* diagnostics);
std::optional<std::chrono::milliseconds> ReadDuration(const YamlNode& node,
                                                      absl::string_view field,
                                                      std::chrono::milliseconds min,
                                                      std::chrono::milliseconds max,
                                                      absl::string_view allowed,
                                                      Diagnostics* diagnostics);
// Reports "<field>: expected a <kind>, got ..." unless `node` has that type.
bool ExpectMapping(const YamlNode& node, absl::string_view field, Diagnostics* diagnostics);
bool ExpectSequence(const YamlNode& node, absl::string_view field, Diagnostics* diagnostics);

// Sorts `found` by position (stable) and, if it is not empty, appends it to
// `out` (may be null) and returns InvalidArgument naming the first problem
// and how many more there are. OK when `found` is empty.
absl::Status FinishDiagnostics(std::vector<Diagnostic>& found, std::vector<Diagnostic>* out);

// Reads all of `path` when it holds at most `max_bytes`. `label` goes before
// the path in open and read errors ("serve config " gives "open serve config
// /etc/x.yaml: no such file"). NotFound / PermissionDenied / ... from open
// and read (ErrnoToStatus); InvalidArgument "read PATH: is a directory";
// OutOfRange when the file is larger than `max_bytes` (callers word that
// one themselves). Reads only.
absl::StatusOr<std::string> ReadFileAtMost(const std::string& path, size_t max_bytes,
                                           absl::string_view label);

// Reads a YAML file of at most kMaxYamlBytes (1 MiB). `what` names it in
// messages ("experiment", "inventory", "agent config"). NotFound / PermissionDenied from open;
// InvalidArgument for a directory or a file that is too large (the latter
// also appended to `diagnostics`, may be null).
absl::StatusOr<std::string> ReadYamlFile(const std::string& path, absl::string_view what,
                                         std::vector<Diagnostic>* diagnostics);

}  // namespace faultline

#endif  // FAULTLINE_COMMON_YAML_FIELDS_H_
