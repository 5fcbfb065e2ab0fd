// ReadFile: reads a whole (usually /proc or /sys) file for the host layer.
// Internal to host/linux; thread-safe.
#ifndef FAULTLINE_AGENT_HOST_LINUX_READ_FILE_H_
#define FAULTLINE_AGENT_HOST_LINUX_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace faultline::agent {

// The file's bytes. NotFound / PermissionDenied / ... from errno, with the
// message "read <path>: <reason>".
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_HOST_LINUX_READ_FILE_H_
