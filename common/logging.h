// One spdlog logger per binary, configured once from flags.
//
// Events are logged as a message followed by key=value fields, e.g.
//   FL_LOG_INFO("fault applied id={} kind={} ttl_s={}", id, kind, ttl);
// With format "json" each line is one JSON object {"ts","level","logger","msg"}.
// Logs go to stderr so stdout stays free for command output.
#ifndef FAULTLINE_COMMON_LOGGING_H_
#define FAULTLINE_COMMON_LOGGING_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "spdlog/formatter.h"
#include "spdlog/spdlog.h"

namespace faultline {

enum class LogFormat { kText, kJson };

// Installs the process-wide default logger named `binary`. `level` is one of
// trace, debug, info, warn, error, off. InvalidArgument on an unknown level or
// format; the previous logger stays in place then. Not thread-safe: call from
// main before starting threads.
absl::Status InitLogging(absl::string_view binary, absl::string_view level,
                         absl::string_view format);

// The formatter behind format "json": one object per line, message escaped.
std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter();

}  // namespace faultline

#endif  // FAULTLINE_COMMON_LOGGING_H_
