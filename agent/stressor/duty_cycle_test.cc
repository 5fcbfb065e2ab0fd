#include "agent/stressor/duty_cycle.h"

#include <algorithm>
#include <chrono>

#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr nanoseconds kPeriod = milliseconds(100);

// Runs `periods` periods in which the scheduler grants at most `available`
// of each period; returns the achieved fraction of one core.
double Simulate(double load, double available, int periods) {
  DutyCycle cycle(load, kPeriod);
  double used_total = 0;
  for (int i = 0; i < periods; ++i) {
    const double cap = available * static_cast<double>(kPeriod.count());
    const double used = std::min(static_cast<double>(cycle.Budget().count()), cap);
    cycle.Record(nanoseconds(static_cast<long long>(used)));
    used_total += used;
  }
  return used_total / (static_cast<double>(kPeriod.count()) * periods);
}

TEST(DutyCycleTest, IdleHostGetsExactLoad) {
  EXPECT_NEAR(Simulate(0.25, 1.0, 100), 0.25, 1e-6);
  EXPECT_NEAR(Simulate(0.9, 1.0, 100), 0.9, 1e-6);
  EXPECT_NEAR(Simulate(1.0, 1.0, 100), 1.0, 1e-6);
}

TEST(DutyCycleTest, OvershootIsPaidBack) {
  DutyCycle cycle(0.5, kPeriod);
  cycle.Record(milliseconds(70));  // burned 20 ms too much (late wake-up)
  EXPECT_EQ(cycle.Budget(), milliseconds(30));
  cycle.Record(milliseconds(30));
  EXPECT_EQ(cycle.Budget(), milliseconds(50));
}

TEST(DutyCycleTest, ShortfallIsMadeUpWithinOnePeriod) {
  DutyCycle cycle(0.5, kPeriod);
  cycle.Record(milliseconds(20));  // preempted: 30 ms missing
  EXPECT_EQ(cycle.Budget(), milliseconds(80));
}

TEST(DutyCycleTest, DebtIsBoundedWhenStarved) {
  DutyCycle cycle(0.9, kPeriod);
  for (int i = 0; i < 50; ++i) cycle.Record(milliseconds(0));
  EXPECT_DOUBLE_EQ(cycle.debt_ns(), static_cast<double>(kPeriod.count()));
  EXPECT_EQ(cycle.Budget(), kPeriod);
  // Once CPU is back, the catch-up burst is worth at most one period of CPU,
  // however long the starvation lasted; then the worker is back at its load.
  nanoseconds extra{0};
  for (int i = 0; i < 20; ++i) {
    const nanoseconds used = cycle.Budget();
    extra += used - milliseconds(90);
    cycle.Record(used);
  }
  EXPECT_EQ(extra, kPeriod);
  EXPECT_EQ(cycle.Budget(), milliseconds(90));
}

TEST(DutyCycleTest, CannotExceedWhatTheSchedulerGives) {
  EXPECT_NEAR(Simulate(0.9, 0.5, 100), 0.5, 1e-6);
}

}  // namespace
}  // namespace faultline::agent
