// Clock: the agent's only source of time, so that TTLs and leases can be
// tested with a fake clock instead of sleeps. Thread-safe.
#ifndef FAULTLINE_AGENT_HOST_CLOCK_H_
#define FAULTLINE_AGENT_HOST_CLOCK_H_

#include <time.h>

#include <chrono>
#include <mutex>

namespace faultline::agent {

class Clock {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// Wall-clock-looking readings that advance with CLOCK_BOOTTIME from the
// moment of construction: a stepped system clock (NTP, a VM resumed with a
// stale clock, an operator's `date -s`) can neither stretch nor cut a
// fault's duration, TTL or lease; it only shifts the displayed times.
// BOOTTIME rather than MONOTONIC so time spent suspended counts too.
class RealClock final : public Clock {
 public:
  RealClock() : wall_at_start_(std::chrono::system_clock::now()), boot_at_start_(BootTime()) {}
  TimePoint Now() const override {
    return wall_at_start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                BootTime() - boot_at_start_);
  }

 private:
  static std::chrono::nanoseconds BootTime() {
    timespec ts{};
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  }
  const TimePoint wall_at_start_;
  const std::chrono::nanoseconds boot_at_start_;
};

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1'700'000'000)))
      : now_(start) {}
  TimePoint Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_;
};

inline int64_t ToUnixMillis(Clock::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_HOST_CLOCK_H_
