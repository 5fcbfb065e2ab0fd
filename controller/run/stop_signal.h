// StopSignal: how Ctrl-C, SIGTERM and internal aborts reach a running
// experiment. Waits in the run engine are WaitFor() calls, so a stop request
// ends them at once instead of after the current step. Thread-safe.
#ifndef FAULTLINE_CONTROLLER_RUN_STOP_SIGNAL_H_
#define FAULTLINE_CONTROLLER_RUN_STOP_SIGNAL_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

namespace faultline::controller {

class StopSignal {
 public:
  // Requests a stop. The first reason wins; later calls are no-ops.
  void Stop(const std::string& reason) {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    reason_ = reason;
    cv_.notify_all();
  }

  bool stopped() const {
    std::lock_guard lock(mu_);
    return stopped_;
  }

  std::string reason() const {
    std::lock_guard lock(mu_);
    return reason_;
  }

  // Sleeps for `d` unless stopped first. Returns true if stopped.
  bool WaitFor(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, d, [this] { return stopped_; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::string reason_;
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_RUN_STOP_SIGNAL_H_
