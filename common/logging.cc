#include "common/logging.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_color_sinks.h"

namespace faultline {

absl::Status InitLogging(absl::string_view binary, absl::string_view level,
                         absl::string_view format) {
  spdlog::level::level_enum lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown log level \"", level, "\" (trace, debug, info, warn, error, off)"));
  }
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log format \"", format, "\" (text, json)"));
  }
  auto logger = std::make_shared<spdlog::logger>(
      std::string(binary), std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (format == "json") {
    // Message text is produced by our own format strings (no raw user quotes
    // are logged unescaped in lifecycle events), so a pattern suffices.
    logger->set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":"%v"})",
        spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %n: %v");
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace faultline
