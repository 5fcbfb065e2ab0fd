#include "common/yaml/diagnostic.h"

#include "absl/strings/str_cat.h"

namespace faultline {

std::string Diagnostic::ToString() const {
  if (where.line <= 0) return absl::StrCat(where.file, ": ", message);
  return absl::StrCat(where.file, ":", where.line, ":", where.column, ": ", message);
}

}  // namespace faultline
