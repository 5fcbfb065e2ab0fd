// Clock: the agent's only source of time, so that TTLs and leases can be
// tested with a fake clock instead of sleeps. Thread-safe.
#ifndef FAULTLINE_AGENT_HOST_CLOCK_H_
#define FAULTLINE_AGENT_HOST_CLOCK_H_

#include <chrono>
#include <mutex>

namespace faultline::agent {

class Clock {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
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
