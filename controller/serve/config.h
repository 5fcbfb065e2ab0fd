// The `faultline serve --config FILE` configuration: where the daemon listens,
// which journal and inventory it uses, and which experiments it starts on a
// schedule, within which hours and outside which blackout periods.
//
//   listen: 127.0.0.1:7430          # default; agents listen on 7431
//   journal: /var/lib/faultline/journal.db   # default: as for `faultline run`
//   inventory: fleet.yaml           # relative to this file; halt and recovery use it
//   lease_ttl: 10s                  # dead-man's switch of every run
//   halt_deadline: 2s               # per agent, for `faultline halt` through serve
//   embedded_dir: /var/lib/faultline/embedded   # local agent for target-less experiments
//   tls: {ca: tls/ca.pem, cert: tls/serve.pem, key: tls/serve.key}   # relative to this file
//   schedules:
//     - name: nightly-latency       # default: the experiment file's stem; unique
//       experiment: experiments/latency.yaml    # relative to this file
//       schedule: {cron: "*/5 * * * *", timezone: Europe/Berlin}   # timezone default UTC
//       concurrency: forbid         # forbid (default) | allow
//       missed: skip                # skip (default) | run-once
//   alertmanager_webhook: {listen: 127.0.0.1:9097}   # default: none; see alert_webhook.h
//   window: {days: [mon-fri], from: "09:00", to: "17:00", timezone: Europe/Berlin}
//   blackout:
//     - {from: 2026-12-24T00:00:00Z, to: 2026-12-27T00:00:00Z, reason: holidays}
//
// Parsed with the experiment parser's YAML helpers, so every problem is
// reported at once as file:line:col. Pure apart from LoadServeConfig's read;
// plain copyable values.
#ifndef FAULTLINE_CONTROLLER_SERVE_CONFIG_H_
#define FAULTLINE_CONTROLLER_SERVE_CONFIG_H_

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls.h"
#include "controller/serve/cron.h"
#include "controller/spec/experiment.h"

namespace faultline::controller {

// Where `faultline serve` listens unless configured otherwise, and where the
// CLI looks for it (--server, $FAULTLINE_SERVER). Agents default to 7431.
inline constexpr char kDefaultServeAddress[] = "127.0.0.1:7430";

// What a scheduled fire does while a run of the same experiment is active.
enum class Concurrency { kForbid, kAllow };
// What a restart does about fires that passed while serve was down.
enum class MissedPolicy { kSkip, kRunOnce };

const char* ConcurrencyName(Concurrency c);   // "forbid", "allow"
const char* MissedPolicyName(MissedPolicy m);  // "skip", "run-once"

struct ScheduleConfig {
  std::string name{};             // unique within the config
  std::string experiment_path{};  // resolved against the config file's directory
  CronSchedule cron{};
  std::string timezone = "UTC";   // IANA name as written
  absl::TimeZone zone = absl::UTCTimeZone();
  Concurrency concurrency = Concurrency::kForbid;
  MissedPolicy missed = MissedPolicy::kSkip;
  SourceLocation where{};
};

// Allowed hours for scheduled fires: on `days`, from `from_minute` (minutes
// after local midnight) until `to_minute` (exclusive; 1440 = "24:00"). A
// window with to < from spans midnight and belongs to the day it starts on.
struct WindowConfig {
  std::bitset<7> days{};  // 0 = Sunday
  int from_minute = 0;
  int to_minute = 24 * 60;
  std::string timezone = "UTC";
  absl::TimeZone zone = absl::UTCTimeZone();
  // "mon-fri 09:00-17:00 Europe/Berlin", for skip reasons.
  std::string Describe() const;
};

// No scheduled fire in [from, to).
struct BlackoutConfig {
  absl::Time from{};
  absl::Time to{};
  std::string reason{};  // "" when not given
  SourceLocation where{};
};

struct ServeConfig {
  std::string path{};
  std::string listen = kDefaultServeAddress;
  std::string journal{};         // "" = DefaultJournalPath()
  std::string inventory_path{};  // resolved; "" = none
  std::chrono::milliseconds lease_ttl{10000};
  std::chrono::milliseconds halt_deadline{2000};
  std::string embedded_dir = "/var/lib/faultline/embedded";
  std::string agent_binary{};    // "" = faultline-agent next to faultline
  // Mutual TLS for the gRPC listener (clients must present a certificate
  // chaining to tls.ca); empty = plaintext, which serve refuses on a
  // non-local listen address unless started with --insecure. The files are
  // checked when the daemon starts, not here.
  TlsFiles tls{};
  SourceLocation tls_where{};
  // Where serve receives Alertmanager webhook posts for detect expectations
  // ("HOST:PORT"); "" = no receiver (such runs then need alerts.alertmanager).
  std::string alertmanager_webhook_listen{};
  std::vector<ScheduleConfig> schedules{};
  std::optional<WindowConfig> window{};
  std::vector<BlackoutConfig> blackouts{};
};

// Parses `yaml_text` (`file_name` is used in locations and to resolve
// relative paths). InvalidArgument (first problem and how many more) after
// APPENDING every problem to `diagnostics` (may be null), sorted by position.
absl::StatusOr<ServeConfig> ParseServeConfig(const std::string& yaml_text,
                                             const std::string& file_name,
                                             std::vector<Diagnostic>* diagnostics);

// Reads `path` and calls ParseServeConfig. NotFound / PermissionDenied when
// it cannot be read; InvalidArgument as above.
absl::StatusOr<ServeConfig> LoadServeConfig(const std::string& path,
                                            std::vector<Diagnostic>* diagnostics);

// Why a scheduled fire at `t` must not start a run because of the window or
// a blackout ("outside the window mon-fri 09:00-17:00 UTC", "inside blackout
// 2026-12-24T00:00:00Z..2026-12-27T00:00:00Z: holidays"), or "" if allowed.
std::string WindowOrBlackoutReason(const ServeConfig& config, absl::Time t);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SERVE_CONFIG_H_
