// ServeState: what `faultline serve` must remember across restarts, kept in
// its own tables of the journal's SQLite file (so one file holds everything a
// controller host knows; the journal schema and its version are untouched):
//
//   schedule_state(name TEXT PRIMARY KEY, covered_unix_ms, last_fire_unix_ms,
//                  last_run_id, last_outcome)
//       covered: every fire of the schedule up to this time has been handled
//       (started, skipped, or reported missed) - the base for missed fires.
//   serve_state(key TEXT PRIMARY KEY, value TEXT /* JSON */)
//       key "halt": {"by", "reason", "unix_ms"} while the fleet is halted.
//
// Every write is its own durable transaction (synchronous=FULL). Thread-safe;
// several processes may open the same file.
#ifndef FAULTLINE_CONTROLLER_SERVE_SERVE_STATE_H_
#define FAULTLINE_CONTROLLER_SERVE_SERVE_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

struct sqlite3;

namespace faultline::controller {

struct ScheduleState {
  std::string name;
  int64_t covered_unix_ms = 0;
  int64_t last_fire_unix_ms = 0;  // 0 = never fired
  std::string last_run_id;
  std::string last_outcome;  // "started", "skipped: <reason>", "missed: <n> fires"
};

struct HaltState {
  bool halted = false;
  std::string by;
  std::string reason;
  int64_t unix_ms = 0;
};

class ServeState {
 public:
  // Opens `path` (the journal file; ":memory:" for tests) and creates the
  // tables if needed. PermissionDenied / NotFound when it cannot be opened,
  // Unavailable when locked longer than the busy timeout, Internal otherwise.
  static absl::StatusOr<std::unique_ptr<ServeState>> Open(const std::string& path);
  ~ServeState();
  ServeState(const ServeState&) = delete;
  ServeState& operator=(const ServeState&) = delete;

  // Every schedule's state, by name.
  absl::StatusOr<std::map<std::string, ScheduleState>> LoadSchedules();
  // Inserts or replaces the row of `state.name`. Idempotent.
  absl::Status SaveSchedule(const ScheduleState& state);

  // The halt flag (halted = false when never halted or released).
  absl::StatusOr<HaltState> LoadHalt();
  // Stores `state` (halted) or clears the flag (!halted). Idempotent.
  absl::Status SaveHalt(const HaltState& state);

 private:
  ServeState(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  absl::Status Exec(const std::string& sql, const char* op);

  std::mutex mu_;
  sqlite3* db_;  // owned
  const std::string path_;
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SERVE_SERVE_STATE_H_
