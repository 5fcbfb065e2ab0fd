// The one place where yaml-cpp is called: YAML text -> YamlNode, a small
// exception-free tree that the experiment validator walks. yaml-cpp throws;
// this adapter catches everything it throws and turns it into a Diagnostic
// with a 1-based location, so no exception escapes into the caller.
//
// Plain values; pure functions; thread-safe.
#ifndef FAULTLINE_COMMON_YAML_YAML_TREE_H_
#define FAULTLINE_COMMON_YAML_YAML_TREE_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/yaml/diagnostic.h"

namespace faultline {

struct YamlNode {
  enum class Type { kNull, kScalar, kSequence, kMapping };

  // Declared so clang (the fuzz build) does not define the constructor while
  // `entries` still names an incomplete std::pair<YamlNode, YamlNode>.
  YamlNode() = default;

  Type type = Type::kNull;
  SourceLocation where;  // 1-based
  std::string scalar;    // kScalar: the text as written, without quotes
  bool quoted = false;   // kScalar: quoted or block scalar (always a string)
  std::vector<YamlNode> items;                          // kSequence
  std::vector<std::pair<YamlNode, YamlNode>> entries;  // kMapping, document order,
                                                       // duplicate keys kept

  bool IsNull() const { return type == Type::kNull; }
  bool IsScalar() const { return type == Type::kScalar; }
  bool IsSequence() const { return type == Type::kSequence; }
  bool IsMapping() const { return type == Type::kMapping; }
};

// Limits that keep a hostile document (alias bombs, self-referencing
// anchors) from exhausting the process that reads it.
inline constexpr int kMaxYamlDepth = 64;
inline constexpr int kMaxYamlNodes = 100000;
// Also the file readers' limit; ParseYaml enforces it on text that arrives
// some other way (an experiment submitted to serve over gRPC).
inline constexpr size_t kMaxYamlBytes = size_t{1} << 20;

// Parses exactly one YAML document. Returns the root, or nullopt after
// appending a diagnostic: syntax error (at yaml-cpp's mark), empty document,
// more than one document, nesting deeper than kMaxYamlDepth or more than
// kMaxYamlNodes nodes. The value of a mapping entry that is null takes its
// key's location (yaml-cpp marks such a value at the next token). `what`
// names the document in the empty-file message ("experiment file is empty").
std::optional<YamlNode> ParseYaml(const std::string& text, const std::string& file_name,
                                  std::vector<Diagnostic>* diagnostics,
                                  absl::string_view what = "experiment");

}  // namespace faultline

#endif  // FAULTLINE_COMMON_YAML_YAML_TREE_H_
