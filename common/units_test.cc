#include "common/units.h"

#include "gtest/gtest.h"

namespace faultline {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, AcceptsCommonForms) {
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
  EXPECT_EQ(*ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("5s"), milliseconds(5000));
  EXPECT_EQ(*ParseDuration("1m30s"), milliseconds(90000));
  EXPECT_EQ(*ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseDuration("2h"), milliseconds(7200000));
}

TEST(ParseDurationTest, RejectsGarbage) {
  for (const char* bad : {"", "5", "fast", "-5s", "5x", "1m-3s", "inf"}) {
    EXPECT_EQ(ParseDuration(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(FormatDurationTest, RoundTrips) {
  for (const char* s : {"0s", "250ms", "5s", "1m30s", "2h", "1h1m1s"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(s)), s);
  }
}

TEST(FormatDurationTest, NeverRoundsAndParsesBack) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(1234)), "1.234s");
  EXPECT_EQ(FormatDuration(milliseconds(150250)), "2m30.25s");
  EXPECT_EQ(FormatDuration(milliseconds(60250)), "1m0.25s");
  EXPECT_EQ(FormatDuration(milliseconds(90000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(3600500)), "1h0.5s");
  EXPECT_EQ(FormatDuration(std::chrono::hours(24)), "24h");
  for (int64_t ms : {1, 7, 999, 1000, 1001, 59999, 60000, 61001, 3599999, 3600001, 86399999}) {
    absl::StatusOr<milliseconds> back = ParseDuration(FormatDuration(milliseconds(ms)));
    ASSERT_TRUE(back.ok()) << ms << ": " << back.status();
    EXPECT_EQ(back->count(), ms) << FormatDuration(milliseconds(ms));
  }
}

TEST(ParseBytesTest, Units) {
  EXPECT_EQ(*ParseBytes("4096"), 4096u);
  EXPECT_EQ(*ParseBytes("512Mi"), 512ull << 20);
  EXPECT_EQ(*ParseBytes("2Gi"), 2ull << 30);
  EXPECT_EQ(*ParseBytes("100M"), 100000000u);
  EXPECT_EQ(*ParseBytes("1KiB"), 1024u);
}

TEST(ParseBytesTest, RejectsGarbage) {
  for (const char* bad : {"", "Mi", "12Zi", "-1", "99999999999999999999", "16777216Ti"}) {
    EXPECT_EQ(ParseBytes(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(FormatBytesTest, Readable) {
  EXPECT_EQ(FormatBytes(123), "123B");
  EXPECT_EQ(FormatBytes(512ull << 20), "512Mi");
  EXPECT_EQ(FormatBytes(1536ull << 20), "1.50Gi");
}

}  // namespace
}  // namespace faultline
