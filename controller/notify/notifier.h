// Notifier: status updates of a run to a chat webhook (`notify: {webhook:
// URL}` in an experiment), for the people around a game day who are not
// watching the terminal.
//
//   Runner event callback ─► Notifier::OnEvent ─► UpdateFormatter (which
//   events matter, Slack-compatible JSON) ─► bounded queue ─► one sender
//   thread ─► HTTP POST (libcurl) ─► webhook
//
// Updates are sent for run.started, fault.applied, fault.reverted,
// fault.failed, abort, abort.reverted, lease.lost, drill.detected,
// drill.recovered, drill.missed and run.finished (ramp phases after the
// first and flap cycles are folded into the step's first apply and final
// revert). Each update says *What is happening*, *Current status*, *Actions
// taken* and *Next step* (see FormatUpdate for the body).
//
// A slow or dead webhook never delays or fails a run: OnEvent only formats
// and enqueues (microseconds); when the queue is full the oldest update is
// dropped and counted; each POST is bounded by a timeout and retried with
// backoff on transport errors, 5xx and 429; Close() flushes until a deadline
// and then abandons what is left (an in-flight request is cancelled within
// ~50 ms). The webhook URL is treated as a secret: logs name its scheme and
// host only.
#ifndef FAULTLINE_CONTROLLER_NOTIFY_NOTIFIER_H_
#define FAULTLINE_CONTROLLER_NOTIFY_NOTIFIER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "controller/spec/experiment.h"
#include "controller/store/journal_store.h"
#include "nlohmann/json.hpp"

namespace faultline::controller {

// "https://hooks.slack.com" for "https://hooks.slack.com/services/T/B/secret":
// what logs and errors may say about a webhook.
std::string RedactUrl(const std::string& url);

// Folds a run's events into the state updates need (faults active per host,
// experiment name) and turns the events that matter into update bodies.
// Pure (no I/O, no clock). Thread-compatible.
class UpdateFormatter {
 public:
  // The update body for `event`, or nullopt when the event produces none.
  // Every event is folded into the state, even those that produce nothing.
  // Body: {"text": one line (notification fallback), "blocks": [context
  // section, section with four mrkdwn fields: *What is happening*, *Current
  // status*, *Actions taken*, *Next step*], "faultline": {run_id, event,
  // unix_ms, experiment, active_faults}} -- Slack ignores the last key.
  std::optional<nlohmann::json> Format(const Event& event);

 private:
  struct ActiveFault {
    std::string kind;
    std::string host;
  };
  std::string ActiveSummary() const;

  std::string experiment_;
  std::string kind_ = "Experiment";
  bool dry_run_ = false;
  std::map<std::string, ActiveFault> active_;  // by fault id
  int applied_total_ = 0;
};

struct NotifierOptions {
  size_t max_queue = 64;                            // updates waiting; the oldest goes first
  std::chrono::milliseconds request_timeout{5000};  // one POST, connect included
  int max_attempts = 3;                             // per update (first try + retries)
  std::chrono::milliseconds backoff{500};           // before retry 1; doubled after each
};

struct NotifierStats {
  int64_t sent = 0;     // answered 2xx
  int64_t failed = 0;   // given up after the attempts (or a 4xx other than 429)
  int64_t dropped = 0;  // pushed out of a full queue, or left at Close's deadline
  int64_t retries = 0;
};

// Owns one sender thread. OnEvent, Close and stats are thread-safe.
class Notifier {
 public:
  // Starts the sender thread. InvalidArgument: the webhook is not an
  // http:// or https:// URL with a host (the spec reader refuses those
  // already; this is the defensive second check).
  static absl::StatusOr<std::unique_ptr<Notifier>> Create(const NotifySpec& spec,
                                                          NotifierOptions options = {});
  // Close(now): nothing more is sent.
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Formats and enqueues the update for `event`, if it produces one. Never
  // blocks on the network. No-op after Close.
  void OnEvent(const Event& event);

  // Sends what is queued until `deadline`, then cancels what is in flight,
  // drops the rest (counted) and stops the thread. Idempotent.
  void Close(std::chrono::steady_clock::time_point deadline);

  NotifierStats stats() const;

 private:
  Notifier(std::string url, NotifierOptions options);
  void SendLoop();
  // One update with its retries; false if given up.
  bool Deliver(const std::string& body);

  const std::string url_;
  const std::string redacted_;
  const NotifierOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  UpdateFormatter formatter_;        // guarded by mu_
  std::deque<std::string> queue_;    // guarded by mu_
  bool closing_ = false;             // guarded by mu_; no more OnEvent
  bool idle_ = true;                 // guarded by mu_; nothing in flight
  NotifierStats stats_;              // guarded by mu_
  std::atomic<bool> cancel_{false};  // abandon the in-flight POST and the queue
  std::thread sender_;
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_NOTIFY_NOTIFIER_H_
