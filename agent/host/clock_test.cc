#include "agent/host/clock.h"

#include <thread>

#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using std::chrono::milliseconds;

TEST(RealClockTest, StartsAtWallTimeAndNeverGoesBackwards) {
  RealClock clock;
  auto first = clock.Now();
  EXPECT_LT(std::chrono::abs(first - std::chrono::system_clock::now()), milliseconds(50));
  auto previous = first;
  for (int i = 0; i < 10000; ++i) {
    auto now = clock.Now();
    ASSERT_GE(now, previous);
    previous = now;
  }
  std::this_thread::sleep_for(milliseconds(50));
  auto advanced = clock.Now() - first;
  EXPECT_GE(advanced, milliseconds(50));
  EXPECT_LT(advanced, milliseconds(1000));
}

TEST(FakeClockTest, MovesOnlyWhenTold) {
  FakeClock clock;
  auto start = clock.Now();
  std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(milliseconds(1500));
  EXPECT_EQ(clock.Now() - start, milliseconds(1500));
}

}  // namespace
}  // namespace faultline::agent
