// Status helpers shared by both binaries: propagation macros and the one place
// where errno becomes an absl::Status.
//
// Errors are values (see STYLE.md): fallible functions return absl::Status or
// absl::StatusOr<T> with the most specific canonical code and a lowercase
// message naming the object, e.g. "open /proc/42/stat: no such file".
#ifndef FAULTLINE_COMMON_STATUS_H_
#define FAULTLINE_COMMON_STATUS_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FL_STATUS_CONCAT_INNER_(a, b) a##b
#define FL_STATUS_CONCAT_(a, b) FL_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` is not OK.
#define FL_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    ::absl::Status fl_status_ = (expr);           \
    if (!fl_status_.ok()) return fl_status_;      \
  } while (0)

// `FL_ASSIGN_OR_RETURN(auto x, F());` assigns the value or returns the error.
#define FL_ASSIGN_OR_RETURN(lhs, expr) \
  FL_ASSIGN_OR_RETURN_IMPL_(FL_STATUS_CONCAT_(fl_statusor_, __LINE__), lhs, expr)
#define FL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(tmp).value()

namespace faultline {

// Maps an errno value to the canonical code (ENOENT/ESRCH -> NotFound,
// EPERM/EACCES -> PermissionDenied, EEXIST -> AlreadyExists, EBUSY ->
// FailedPrecondition, ENOMEM/ENOSPC -> ResourceExhausted, EINVAL ->
// InvalidArgument, others -> Internal). Message: "<what>: <strerror>".
absl::Status ErrnoToStatus(int errno_value, absl::string_view what);

// Prefixes the message of a non-OK status with `context: `; OK passes through.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace faultline

#endif  // FAULTLINE_COMMON_STATUS_H_
