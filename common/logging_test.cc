#include "common/logging.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace faultline {
namespace {

TEST(JsonLogFormatterTest, EveryLineIsOneJsonObjectWhateverTheMessage) {
  auto formatter = MakeJsonLogFormatter();
  const std::string message = "fault failed error=\"no such \\ file\"\n\tnext\x01";
  spdlog::details::log_msg msg("faultline-agent", spdlog::level::warn, message);
  spdlog::memory_buf_t out;
  formatter->format(msg, out);
  std::string line(out.data(), out.size());
  ASSERT_EQ(line.back(), '\n');
  nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(parsed.is_discarded()) << line;
  EXPECT_EQ(parsed["msg"], message);
  EXPECT_EQ(parsed["level"], "warning");
  EXPECT_EQ(parsed["logger"], "faultline-agent");
}

TEST(InitLoggingTest, RejectsUnknownLevelAndFormat) {
  EXPECT_EQ(InitLogging("t", "loud", "text").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InitLogging("t", "info", "xml").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(InitLogging("t", "info", "json").ok());
}

}  // namespace
}  // namespace faultline
