// The scheduler driven by a fake clock: plain absl::Time values passed in.
#include "controller/serve/scheduler.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << rfc3339 << error;
  return t;
}

ScheduleConfig Schedule(const std::string& name, const char* cron, const char* zone = "UTC",
                        MissedPolicy missed = MissedPolicy::kSkip) {
  ScheduleConfig s;
  s.name = name;
  s.experiment_path = name + ".yaml";
  absl::StatusOr<CronSchedule> parsed = CronSchedule::Parse(cron);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (parsed.ok()) s.cron = *parsed;
  s.timezone = zone;
  EXPECT_TRUE(absl::LoadTimeZone(zone, &s.zone));
  s.missed = missed;
  return s;
}

TEST(SchedulerTest, FiresEachScheduleWhenDue) {
  Scheduler scheduler({Schedule("five", "*/5 * * * *"), Schedule("hourly", "0 * * * *")});
  EXPECT_TRUE(scheduler.Start(At("2026-11-27T12:03:00Z"), {}).empty());
  EXPECT_EQ(scheduler.NextWake(), At("2026-11-27T12:05:00Z"));
  EXPECT_EQ(scheduler.NextFire("hourly"), At("2026-11-27T13:00:00Z"));
  EXPECT_TRUE(scheduler.TakeDue(At("2026-11-27T12:04:59Z")).empty());

  std::vector<ScheduledFire> due = scheduler.TakeDue(At("2026-11-27T12:05:00.200Z"));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].schedule, "five");
  EXPECT_EQ(due[0].time, At("2026-11-27T12:05:00Z"));
  EXPECT_EQ(due[0].collapsed, 0);
  EXPECT_TRUE(scheduler.TakeDue(At("2026-11-27T12:05:01Z")).empty());  // fired once only
  EXPECT_EQ(scheduler.NextWake(), At("2026-11-27T12:10:00Z"));

  // 13:00: both are due at the same instant.
  for (const char* t : {"2026-11-27T12:10:00Z", "2026-11-27T12:15:00Z", "2026-11-27T12:20:00Z",
                        "2026-11-27T12:25:00Z", "2026-11-27T12:30:00Z", "2026-11-27T12:35:00Z",
                        "2026-11-27T12:40:00Z", "2026-11-27T12:45:00Z", "2026-11-27T12:50:00Z",
                        "2026-11-27T12:55:00Z"}) {
    ASSERT_EQ(scheduler.TakeDue(At(t)).size(), 1u) << t;
  }
  due = scheduler.TakeDue(At("2026-11-27T13:00:00Z"));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].schedule, "five");
  EXPECT_EQ(due[1].schedule, "hourly");
}

TEST(SchedulerTest, LateWakeCollapsesPassedFiresIntoTheLatest) {
  Scheduler scheduler({Schedule("minutely", "* * * * *")});
  scheduler.Start(At("2026-11-27T12:00:30Z"), {});
  // The process was suspended for 10 minutes.
  std::vector<ScheduledFire> due = scheduler.TakeDue(At("2026-11-27T12:10:30Z"));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].time, At("2026-11-27T12:10:00Z"));
  EXPECT_EQ(due[0].collapsed, 9);
  EXPECT_EQ(scheduler.NextWake(), At("2026-11-27T12:11:00Z"));
}

TEST(SchedulerTest, MissedFiresAcrossARestart) {
  Scheduler scheduler({Schedule("daily", "0 14 * * *", "UTC", MissedPolicy::kRunOnce),
                       Schedule("weekly", "0 14 * * tue"), Schedule("new", "@hourly")});
  // Down from Monday 2026-11-23 10:00 until Friday 2026-11-27 16:30.
  std::map<std::string, absl::Time> covered = {{"daily", At("2026-11-23T10:00:00Z")},
                                               {"weekly", At("2026-11-23T10:00:00Z")}};
  std::vector<MissedFires> missed = scheduler.Start(At("2026-11-27T16:30:00Z"), covered);
  ASSERT_EQ(missed.size(), 2u);
  EXPECT_EQ(missed[0].schedule, "daily");
  EXPECT_EQ(missed[0].count, 5);  // Mon..Fri 14:00
  EXPECT_EQ(missed[0].first, At("2026-11-23T14:00:00Z"));
  EXPECT_EQ(missed[0].last, At("2026-11-27T14:00:00Z"));
  EXPECT_EQ(missed[0].policy, MissedPolicy::kRunOnce);
  EXPECT_FALSE(missed[0].capped);
  EXPECT_EQ(missed[1].schedule, "weekly");
  EXPECT_EQ(missed[1].count, 1);
  EXPECT_EQ(missed[1].first, At("2026-11-24T14:00:00Z"));
  EXPECT_EQ(missed[1].policy, MissedPolicy::kSkip);
  // After the restart the schedules continue from now, not from the past.
  EXPECT_EQ(scheduler.NextFire("daily"), At("2026-11-28T14:00:00Z"));
  EXPECT_EQ(scheduler.NextFire("weekly"), At("2026-12-01T14:00:00Z"));
  EXPECT_EQ(scheduler.NextFire("new"), At("2026-11-27T17:00:00Z"));
  EXPECT_TRUE(scheduler.TakeDue(At("2026-11-27T16:30:00Z")).empty());
}

TEST(SchedulerTest, NothingMissedWhenCoveredUpToNow) {
  Scheduler scheduler({Schedule("daily", "0 14 * * *")});
  EXPECT_TRUE(
      scheduler.Start(At("2026-11-27T16:30:00Z"), {{"daily", At("2026-11-27T14:00:00Z")}}).empty());
  EXPECT_TRUE(
      scheduler.Start(At("2026-11-27T16:30:00Z"), {{"daily", At("2026-11-27T16:30:00Z")}}).empty());
}

TEST(SchedulerTest, MissedCountIsCapped) {
  Scheduler scheduler({Schedule("minutely", "* * * * *")});
  std::vector<MissedFires> missed =
      scheduler.Start(At("2026-11-27T12:00:00Z"), {{"minutely", At("2026-10-27T12:00:00Z")}});
  ASSERT_EQ(missed.size(), 1u);
  EXPECT_EQ(missed[0].count, kMaxCountedMissedFires);
  EXPECT_TRUE(missed[0].capped);
}

TEST(SchedulerTest, TimeZoneAndDstAreTheCronsBusiness) {
  // 02:30 Berlin does not exist on 2026-03-29: it fires at the 03:00 jump.
  Scheduler scheduler({Schedule("night", "30 2 * * *", "Europe/Berlin")});
  scheduler.Start(At("2026-03-28T12:00:00Z"), {});
  EXPECT_EQ(scheduler.NextWake(), At("2026-03-29T01:00:00Z"));
  std::vector<ScheduledFire> due = scheduler.TakeDue(At("2026-03-29T01:00:00Z"));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(scheduler.NextWake(), At("2026-03-30T00:30:00Z"));
}

TEST(SchedulerTest, FindAndUnknownNames) {
  Scheduler scheduler({Schedule("a", "@daily")});
  scheduler.Start(At("2026-11-27T12:00:00Z"), {});
  ASSERT_NE(scheduler.Find("a"), nullptr);
  EXPECT_EQ(scheduler.Find("a")->experiment_path, "a.yaml");
  EXPECT_EQ(scheduler.Find("b"), nullptr);
  EXPECT_FALSE(scheduler.NextFire("b").has_value());
  Scheduler empty({});
  EXPECT_EQ(empty.NextWake(), absl::InfiniteFuture());
}

}  // namespace
}  // namespace faultline::controller
