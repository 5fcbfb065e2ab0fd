// Alert sources: where a drill's `expect: detect` looks for the alert the
// team expects to fire. The expectation watcher (expectations.h) polls one
// AlertSource every `alerts.poll`; what it returns is the set of alerts
// firing right now.
//
//   AlertmanagerSource  GET {base}/api/v2/alerts?active=true&silenced=false
//                       &inhibited=false on a real Alertmanager (the run's
//                       `alerts.alertmanager` URL)
//   WebhookBoard        the alerts an Alertmanager has pushed to `faultline
//                       serve`'s webhook receiver (controller/serve/
//                       alert_webhook.h); one board is shared by serve's runs
//
// Neither source interprets alerts: matching (alertname + labels) and the
// pre-existing rule (startsAt before the first fault) live in the watcher.
#ifndef FAULTLINE_CONTROLLER_DRILL_ALERT_SOURCE_H_
#define FAULTLINE_CONTROLLER_DRILL_ALERT_SOURCE_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace faultline::controller {

struct FiringAlert {
  std::map<std::string, std::string> labels{};  // includes "alertname"
  // Alertmanager's startsAt (for Prometheus alerts: when the rule started
  // firing), ms since the epoch; 0 = unknown.
  int64_t starts_at_unix_ms = 0;
  // When this source first learnt of the alert, 0 = unknown (Alertmanager
  // polling: the watcher's poll time is the figure; webhook: receipt time).
  int64_t received_unix_ms = 0;
  std::string fingerprint{};  // Alertmanager's, "" when not sent
};

// Thread-safe implementations only: the watcher polls from its own thread.
class AlertSource {
 public:
  virtual ~AlertSource() = default;

  // The alerts firing now (not silenced, not inhibited). Unavailable when
  // the source cannot be reached or answers garbage (message says which);
  // an empty vector when nothing fires. No side effects.
  virtual absl::StatusOr<std::vector<FiringAlert>> Firing() = 0;

  // For journals: "alertmanager http://127.0.0.1:9093" or "webhook".
  virtual std::string Describe() const = 0;
};

// Parses an RFC 3339 time ("2026-11-27T18:12:01.123456789Z", any offset) to
// ms since the epoch. InvalidArgument when malformed. Alertmanager's "zero"
// time 0001-01-01T00:00:00Z parses to a negative number (callers treat
// values <= 0 as unset).
absl::StatusOr<int64_t> ParseRfc3339UnixMs(const std::string& text);

// Polls one Alertmanager over its v2 HTTP API (libcurl, through
// controller/probes/transport.h). Alerts in state "active" or
// "unprocessed" (received, not yet routed) count as firing; "suppressed"
// ones do not. Stateless apart from its configuration; thread-safe.
class AlertmanagerSource : public AlertSource {
 public:
  // `base_url` "http://host:port" (a trailing slash or path prefix such as
  // "/alertmanager" is kept); each request is bounded by `timeout`.
  explicit AlertmanagerSource(std::string base_url,
                              std::chrono::milliseconds timeout = std::chrono::seconds(2));

  // Unavailable: transport error, HTTP status other than 200, a body that is
  // not a JSON array of alerts.
  absl::StatusOr<std::vector<FiringAlert>> Firing() override;
  std::string Describe() const override;

 private:
  const std::string base_url_;
  const std::chrono::milliseconds timeout_;
};

// The firing alerts an Alertmanager webhook has reported, keyed by label set
// (Alertmanager's identity of an alert). Fed by Accept(), read by Firing().
// Bounded: at most kMaxAlerts alerts are kept (the oldest-received is dropped
// beyond that). Thread-safe.
class WebhookBoard : public AlertSource {
 public:
  static constexpr size_t kMaxAlerts = 10000;

  // Applies one webhook payload ({"version": "4", "status", "alerts": [{
  // "status": "firing"|"resolved", "labels", "startsAt", "endsAt",
  // "fingerprint"}]}): firing alerts are added (their first receipt time,
  // `received_unix_ms`, kept across repeats), resolved ones removed.
  // InvalidArgument when the body is not JSON, has no "alerts" array, or an
  // alert has no labels object or an unknown status; nothing is applied
  // then. Idempotent for the same payload.
  absl::Status Accept(const std::string& body, int64_t received_unix_ms);

  // Firing alerts, minus those whose endsAt has passed (Alertmanager sets
  // endsAt on firing alerts it resends; a resolved message may be lost).
  absl::StatusOr<std::vector<FiringAlert>> Firing() override;
  std::string Describe() const override { return "webhook"; }

  size_t size() const;

 private:
  struct Entry {
    FiringAlert alert;
    int64_t ends_at_unix_ms = 0;  // 0 = open-ended
  };
  mutable std::mutex mu_;
  std::map<std::map<std::string, std::string>, Entry> alerts_;  // guarded by mu_
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_DRILL_ALERT_SOURCE_H_
