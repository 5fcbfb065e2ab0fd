#include "controller/serve/cron.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::HasSubstr;

absl::TimeZone Zone(const char* name) {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone(name, &zone)) << name;
  return zone;
}

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << rfc3339 << error;
  return t;
}

std::string Fmt(absl::Time t, absl::TimeZone zone) {
  return absl::FormatTime("%Y-%m-%d %H:%M %a %Ez", t, zone);
}

// The next `n` fires after `start`, formatted in `zone`.
std::vector<std::string> Fires(const char* cron, const char* start, int n,
                               const char* zone_name = "UTC") {
  absl::StatusOr<CronSchedule> c = CronSchedule::Parse(cron);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return {};
  absl::TimeZone zone = Zone(zone_name);
  std::vector<std::string> out;
  absl::Time t = At(start);
  for (int i = 0; i < n; ++i) {
    std::optional<absl::Time> next = c->Next(t, zone);
    if (!next) {
      out.push_back("none");
      break;
    }
    EXPECT_GT(*next, t);
    out.push_back(Fmt(*next, zone));
    t = *next;
  }
  return out;
}

TEST(CronTest, EveryFiveMinutes) {
  EXPECT_THAT(Fires("*/5 * * * *", "2026-11-27T12:03:10Z", 3),
              ::testing::ElementsAre("2026-11-27 12:05 Fri +00:00", "2026-11-27 12:10 Fri +00:00",
                                     "2026-11-27 12:15 Fri +00:00"));
}

TEST(CronTest, NextIsStrictlyAfterAnExactFireTime) {
  EXPECT_THAT(Fires("0 * * * *", "2026-11-27T12:00:00Z", 1),
              ::testing::ElementsAre("2026-11-27 13:00 Fri +00:00"));
}

TEST(CronTest, ListsRangesStepsAndNames) {
  // 09:15 and 09:45 on weekdays, hours 9-17 every 4 hours -> 9, 13, 17.
  EXPECT_THAT(Fires("15,45 9-17/4 * * MON-fri", "2026-11-27T16:00:00Z", 4),
              ::testing::ElementsAre("2026-11-27 17:15 Fri +00:00", "2026-11-27 17:45 Fri +00:00",
                                     "2026-11-30 09:15 Mon +00:00", "2026-11-30 09:45 Mon +00:00"));
  // "N/STEP" = N-max/STEP.
  EXPECT_THAT(Fires("50/5 8 * * *", "2026-11-27T00:00:00Z", 3),
              ::testing::ElementsAre("2026-11-27 08:50 Fri +00:00", "2026-11-27 08:55 Fri +00:00",
                                     "2026-11-28 08:50 Sat +00:00"));
}

TEST(CronTest, MonthNamesAndSundayAsSeven) {
  EXPECT_THAT(Fires("0 12 * jan,Jul 7", "2026-11-27T00:00:00Z", 2),
              ::testing::ElementsAre("2027-01-03 12:00 Sun +00:00", "2027-01-10 12:00 Sun +00:00"));
  EXPECT_THAT(Fires("0 12 * * 0", "2026-11-27T00:00:00Z", 1),
              ::testing::ElementsAre("2026-11-29 12:00 Sun +00:00"));
  EXPECT_THAT(Fires("0 0 * * 5-7", "2026-11-27T01:00:00Z", 3),
              ::testing::ElementsAre("2026-11-28 00:00 Sat +00:00", "2026-11-29 00:00 Sun +00:00",
                                     "2026-12-04 00:00 Fri +00:00"));
}

TEST(CronTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // Vixie rule: the 1st and 15th, plus every Monday.
  EXPECT_THAT(Fires("0 0 1,15 * mon", "2026-11-27T00:00:00Z", 5),
              ::testing::ElementsAre("2026-11-30 00:00 Mon +00:00", "2026-12-01 00:00 Tue +00:00",
                                     "2026-12-07 00:00 Mon +00:00", "2026-12-14 00:00 Mon +00:00",
                                     "2026-12-15 00:00 Tue +00:00"));
  // A star-led day of week ("*/2" = sun, tue, thu, sat) counts as
  // unrestricted: both must match - the 1st, when it is one of those days.
  EXPECT_THAT(Fires("0 0 1 * */2", "2026-11-27T00:00:00Z", 2),
              ::testing::ElementsAre("2026-12-01 00:00 Tue +00:00", "2027-04-01 00:00 Thu +00:00"));
}

TEST(CronTest, LeapDay) {
  EXPECT_THAT(Fires("0 0 29 2 *", "2026-11-27T00:00:00Z", 2),
              ::testing::ElementsAre("2028-02-29 00:00 Tue +00:00", "2032-02-29 00:00 Sun +00:00"));
}

TEST(CronTest, Macros) {
  EXPECT_THAT(Fires("@hourly", "2026-11-27T12:30:00Z", 1),
              ::testing::ElementsAre("2026-11-27 13:00 Fri +00:00"));
  EXPECT_THAT(Fires("@weekly", "2026-11-27T12:30:00Z", 1),
              ::testing::ElementsAre("2026-11-29 00:00 Sun +00:00"));
  EXPECT_THAT(Fires("@yearly", "2026-11-27T12:30:00Z", 1),
              ::testing::ElementsAre("2027-01-01 00:00 Fri +00:00"));
  EXPECT_THAT(Fires("@daily", "2026-11-27T12:30:00Z", 1),
              ::testing::ElementsAre("2026-11-28 00:00 Sat +00:00"));
  EXPECT_THAT(Fires("@monthly", "2026-11-27T12:30:00Z", 1),
              ::testing::ElementsAre("2026-12-01 00:00 Tue +00:00"));
}

TEST(CronTest, TimeZoneShiftsTheFireInstant) {
  // 09:00 in Berlin is 08:00 UTC in winter.
  absl::StatusOr<CronSchedule> c = CronSchedule::Parse("0 9 * * *");
  ASSERT_TRUE(c.ok());
  std::optional<absl::Time> next = c->Next(At("2026-11-27T12:00:00Z"), Zone("Europe/Berlin"));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, At("2026-11-28T08:00:00Z"));
}

TEST(CronTest, SpringForwardFiresSkippedMinuteAtTheTransition) {
  // Europe/Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST.
  EXPECT_THAT(Fires("30 2 * * *", "2026-03-28T12:00:00Z", 3, "Europe/Berlin"),
              ::testing::ElementsAre("2026-03-29 03:00 Sun +02:00", "2026-03-30 02:30 Mon +02:00",
                                     "2026-03-31 02:30 Tue +02:00"));
  // Every minute: the gap produces one fire at 03:00, then 03:01.
  EXPECT_THAT(Fires("* * * * *", "2026-03-29T00:58:30Z", 3, "Europe/Berlin"),
              ::testing::ElementsAre("2026-03-29 01:59 Sun +01:00", "2026-03-29 03:00 Sun +02:00",
                                     "2026-03-29 03:01 Sun +02:00"));
}

TEST(CronTest, FallBackFiresRepeatedMinuteOnce) {
  // Europe/Berlin 2026-10-25: 03:00 CEST goes back to 02:00 CET.
  EXPECT_THAT(Fires("30 2 * * *", "2026-10-24T12:00:00Z", 2, "Europe/Berlin"),
              ::testing::ElementsAre("2026-10-25 02:30 Sun +02:00", "2026-10-26 02:30 Mon +01:00"));
  // Hourly: 02:00 fires in its first pass; the second pass of 02:xx is not
  // fired again; the next is 03:00 CET, two hours later in absolute time.
  absl::StatusOr<CronSchedule> c = CronSchedule::Parse("0 * * * *");
  ASSERT_TRUE(c.ok());
  absl::TimeZone berlin = Zone("Europe/Berlin");
  std::optional<absl::Time> first = c->Next(At("2026-10-24T23:30:00Z"), berlin);  // 01:30 CEST
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, At("2026-10-25T02:00:00+02:00"));
  std::optional<absl::Time> second = c->Next(*first, berlin);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, At("2026-10-25T03:00:00+01:00"));
  EXPECT_EQ(*second - *first, absl::Hours(2));
  // Asking from inside the second pass does not go back in time.
  std::optional<absl::Time> from_second_pass =
      c->Next(At("2026-10-25T02:10:00+01:00"), berlin);
  ASSERT_TRUE(from_second_pass.has_value());
  EXPECT_EQ(*from_second_pass, At("2026-10-25T03:00:00+01:00"));
}

TEST(CronTest, MatchesCivilMinutes) {
  absl::StatusOr<CronSchedule> c = CronSchedule::Parse("*/15 9-17 * * 1-5");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Matches(absl::CivilMinute(2026, 11, 27, 9, 45)));   // Friday
  EXPECT_FALSE(c->Matches(absl::CivilMinute(2026, 11, 28, 9, 45)));  // Saturday
  EXPECT_FALSE(c->Matches(absl::CivilMinute(2026, 11, 27, 9, 46)));
  EXPECT_FALSE(c->Matches(absl::CivilMinute(2026, 11, 27, 18, 0)));
}

TEST(CronTest, RejectsBadExpressionsWithTheField) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"* * * *", "want 5 fields"},
           {"* * * * * *", "got 6"},
           {"61 * * * *", "minute \"61\": 61 is out of range 0-59"},
           {"* 24 * * *", "hour \"24\": 24 is out of range 0-23"},
           {"* * 0 * *", "day of month \"0\": 0 is out of range 1-31"},
           {"* * * 13 *", "month \"13\": 13 is out of range 1-12"},
           {"* * * * 8", "day of week \"8\": 8 is out of range 0-7"},
           {"* * * foo *", "month \"foo\": \"foo\" is not a number 1-12 or a name (jan..dec)"},
           {"*/0 * * * *", "minute \"*/0\": step \"0\" must be 1-60"},
           {"*/x * * * *", "step \"x\""},
           {"5-1 * * * *", "minute \"5-1\": range start is after its end"},
           {"1,,2 * * * *", "empty list element"},
           {"-1 * * * *", "is not a number 0-59"},
           {"0 0 30 feb *", "never fires"},
           {"0 0 31 4,6 *", "never fires"},
           {"@reboot", "unknown macro"},
           {"", "want 5 fields"},
       }) {
    absl::StatusOr<CronSchedule> parsed = CronSchedule::Parse(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.message)) << c.text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(absl::StrCat("cron \"", c.text, "\"")));
  }
  // Restricted day of week rescues an impossible day of month (OR rule).
  EXPECT_TRUE(CronSchedule::Parse("0 0 30 feb mon").ok());
}

}  // namespace
}  // namespace faultline::controller
