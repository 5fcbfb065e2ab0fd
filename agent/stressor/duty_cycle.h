// The closed-loop duty cycle behind `faultline-stressor cpu`: how long a
// worker should burn CPU in each period so that its *achieved* CPU time
// tracks the requested load even when the scheduler takes time away (other
// processes on the same core, a paused stressor, slow wake-ups).
//
// An integral controller: each period the budget is the nominal share plus
// the accumulated shortfall (or minus the accumulated excess), clamped to
// one period, and the shortfall carried is bounded so that a long stretch of
// starvation does not turn into a long burst afterwards. Pure arithmetic,
// no clock: the worker loop in main.cc measures and feeds it, and
// tests feed it simulated figures. Not thread-safe; one per worker.
#ifndef FAULTLINE_AGENT_STRESSOR_DUTY_CYCLE_H_
#define FAULTLINE_AGENT_STRESSOR_DUTY_CYCLE_H_

#include <algorithm>
#include <chrono>

namespace faultline::agent {

class DutyCycle {
 public:
  // `load` in (0, 1]: fraction of one core. `period`: control period.
  DutyCycle(double load, std::chrono::nanoseconds period) : load_(load), period_(period) {}

  // CPU time to burn in the next period, in [0, period].
  std::chrono::nanoseconds Budget() const {
    double want = load_ * static_cast<double>(period_.count()) + debt_ns_;
    want = std::clamp(want, 0.0, static_cast<double>(period_.count()));
    return std::chrono::nanoseconds(static_cast<long long>(want));
  }

  // Feeds back the CPU time the worker really used during the period that
  // just ended.
  void Record(std::chrono::nanoseconds used) {
    const double period = static_cast<double>(period_.count());
    debt_ns_ += load_ * period - static_cast<double>(used.count());
    // At most one period of debt or credit: enough to absorb scheduling
    // noise, small enough that a starved worker does not overshoot for long.
    debt_ns_ = std::clamp(debt_ns_, -period, period);
  }

  double debt_ns() const { return debt_ns_; }

 private:
  double load_;
  std::chrono::nanoseconds period_;
  double debt_ns_ = 0;
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_STRESSOR_DUTY_CYCLE_H_
