// Where a problem in a YAML document is, and what it is. Shared by every
// reader of a YAML file (experiments, inventories, the agent's config) so all
// of them report "file:line:col: message".
#ifndef FAULTLINE_COMMON_YAML_DIAGNOSTIC_H_
#define FAULTLINE_COMMON_YAML_DIAGNOSTIC_H_

#include <string>

namespace faultline {

// 1-based; line 0 means "the whole file" (e.g. it cannot be read).
struct SourceLocation {
  std::string file{};
  int line = 0;
  int column = 0;
};

// One validation problem.
//
// Every member of these structs has a default member initializer, so
// designated initializers stay clean under -Wextra.
struct Diagnostic {
  SourceLocation where{};
  std::string message{};  // lowercase, names the field and what is allowed

  // "file:line:col: message" ("file: message" for line 0).
  std::string ToString() const;
};

}  // namespace faultline

#endif  // FAULTLINE_COMMON_YAML_DIAGNOSTIC_H_
