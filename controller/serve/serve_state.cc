#include "controller/serve/serve_state.h"

#include <sqlite3.h>


#include "absl/strings/str_cat.h"
#include "controller/store/sqlite_store.h"
#include "nlohmann/json.hpp"

namespace faultline::controller {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS schedule_state (
  name              TEXT PRIMARY KEY NOT NULL,
  covered_unix_ms   INTEGER NOT NULL,
  last_fire_unix_ms INTEGER NOT NULL,
  last_run_id       TEXT NOT NULL,
  last_outcome      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS serve_state (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
)sql";

absl::Status Error(int rc, sqlite3* db, const std::string& path, absl::string_view op) {
  std::string message = absl::StrCat("serve state in ", path, ": ", op, ": ",
                                     db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    default:
      return absl::InternalError(message);
  }
}

// A prepared statement, finalized on destruction.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServeState>> ServeState::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = Error(rc, db, path, "open");
    sqlite3_close_v2(db);
    return status;
  }
  std::unique_ptr<ServeState> state(new ServeState(db, path));
  sqlite3_busy_timeout(db, kJournalBusyTimeoutMs);
  {
    std::lock_guard lock(state->mu_);
    if (absl::Status s = state->Exec("PRAGMA synchronous=FULL", "set synchronous"); !s.ok()) {
      return s;
    }
    if (absl::Status s = state->Exec(kSchema, "create tables"); !s.ok()) return s;
  }
  return state;
}

ServeState::~ServeState() { sqlite3_close_v2(db_); }

absl::Status ServeState::Exec(const std::string& sql, const char* op) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, db_, path_, op);
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, ScheduleState>> ServeState::LoadSchedules() {
  std::lock_guard lock(mu_);
  Stmt stmt;
  int rc = sqlite3_prepare_v2(db_,
                              "SELECT name, covered_unix_ms, last_fire_unix_ms, last_run_id, "
                              "last_outcome FROM schedule_state",
                              -1, &stmt.s, nullptr);
  if (rc != SQLITE_OK) return Error(rc, db_, path_, "read schedule state");
  std::map<std::string, ScheduleState> out;
  while ((rc = sqlite3_step(stmt.s)) == SQLITE_ROW) {
    ScheduleState s;
    auto text = [&](int col) {
      const unsigned char* t = sqlite3_column_text(stmt.s, col);
      return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
    };
    s.name = text(0);
    s.covered_unix_ms = sqlite3_column_int64(stmt.s, 1);
    s.last_fire_unix_ms = sqlite3_column_int64(stmt.s, 2);
    s.last_run_id = text(3);
    s.last_outcome = text(4);
    out[s.name] = s;
  }
  if (rc != SQLITE_DONE) return Error(rc, db_, path_, "read schedule state");
  return out;
}

absl::Status ServeState::SaveSchedule(const ScheduleState& state) {
  std::lock_guard lock(mu_);
  Stmt stmt;
  int rc = sqlite3_prepare_v2(
      db_,
      "INSERT OR REPLACE INTO schedule_state(name, covered_unix_ms, last_fire_unix_ms, "
      "last_run_id, last_outcome) VALUES(?1, ?2, ?3, ?4, ?5)",
      -1, &stmt.s, nullptr);
  if (rc != SQLITE_OK) return Error(rc, db_, path_, "save schedule state");
  sqlite3_bind_text(stmt.s, 1, state.name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(stmt.s, 2, state.covered_unix_ms);
  sqlite3_bind_int64(stmt.s, 3, state.last_fire_unix_ms);
  sqlite3_bind_text(stmt.s, 4, state.last_run_id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(stmt.s, 5, state.last_outcome.c_str(), -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(stmt.s);
  if (rc != SQLITE_DONE) {
    return Error(rc, db_, path_, absl::StrCat("save state of schedule ", state.name));
  }
  return absl::OkStatus();
}

absl::StatusOr<HaltState> ServeState::LoadHalt() {
  std::lock_guard lock(mu_);
  Stmt stmt;
  int rc = sqlite3_prepare_v2(db_, "SELECT value FROM serve_state WHERE key = 'halt'", -1,
                              &stmt.s, nullptr);
  if (rc != SQLITE_OK) return Error(rc, db_, path_, "read halt state");
  HaltState halt;
  rc = sqlite3_step(stmt.s);
  if (rc == SQLITE_DONE) return halt;
  if (rc != SQLITE_ROW) return Error(rc, db_, path_, "read halt state");
  const unsigned char* text = sqlite3_column_text(stmt.s, 0);
  nlohmann::json value = nlohmann::json::parse(
      text == nullptr ? "" : reinterpret_cast<const char*>(text), nullptr, false);
  if (!value.is_object()) {
    return absl::DataLossError(absl::StrCat("serve state in ", path_, ": halt state is not JSON"));
  }
  halt.halted = true;
  halt.by = value.value("by", "");
  halt.reason = value.value("reason", "");
  halt.unix_ms = value.value("unix_ms", int64_t{0});
  return halt;
}

absl::Status ServeState::SaveHalt(const HaltState& state) {
  std::lock_guard lock(mu_);
  if (!state.halted) return Exec("DELETE FROM serve_state WHERE key = 'halt'", "clear halt state");
  std::string value =
      nlohmann::json{{"by", state.by}, {"reason", state.reason}, {"unix_ms", state.unix_ms}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
  Stmt stmt;
  int rc = sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO serve_state(key, value) VALUES('halt', ?1)",
                              -1, &stmt.s, nullptr);
  if (rc != SQLITE_OK) return Error(rc, db_, path_, "save halt state");
  sqlite3_bind_text(stmt.s, 1, value.c_str(), -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(stmt.s);
  if (rc != SQLITE_DONE) return Error(rc, db_, path_, "save halt state");
  return absl::OkStatus();
}

}  // namespace faultline::controller
