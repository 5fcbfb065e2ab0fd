#include "controller/store/sqlite_store.h"

#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "common/unix_time.h"

namespace faultline::controller {
namespace {

// A process that started more than this long after a run did cannot be the
// controller that started it: its pid was reused (typically after a reboot).
// Generous because btime has whole-second resolution and the wall clock may
// have been stepped since the run began.
constexpr int64_t kPidReuseSlackMs = 60'000;

// How many times CreateRun draws a new random suffix when a generated run id
// collides with an existing one (same second, same experiment).
constexpr int kRunIdAttempts = 8;

std::string LocalHostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// The one place where SQLite result codes become absl::Status. Messages read
// "journal <path>: <op>: <sqlite message>".
absl::Status SqliteStatus(int rc, sqlite3* db, const std::string& path, absl::string_view op) {
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = absl::StrCat("journal ", path, ": ", op, ": ", detail);
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return absl::OkStatus();
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_CANTOPEN: {
      // SQLite retries a failed read-write open read-only, so the errno left
      // behind is often the retry's ENOENT even when EACCES was the cause:
      // only call it NotFound when the directory really is missing.
      std::error_code ec;
      std::filesystem::path parent = std::filesystem::path(path).parent_path();
      if (!parent.empty() && !std::filesystem::exists(parent, ec) && !ec) {
        return absl::NotFoundError(message);
      }
      return absl::PermissionDeniedError(message);
    }
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(message);
    case SQLITE_CONSTRAINT:
      return absl::AlreadyExistsError(message);
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return absl::InvalidArgumentError(message);
    case SQLITE_INTERRUPT:
    case SQLITE_ABORT:
      return absl::AbortedError(message);
    default:  // SQLITE_ERROR, SQLITE_IOERR, SQLITE_MISUSE, SQLITE_RANGE, ...
      return absl::InternalError(message);
  }
}

// A prepared statement, finalized on destruction. Move-only.
class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(Stmt&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Stmt& operator=(Stmt&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(stmt_);
      stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  sqlite3_stmt* get() const { return stmt_; }

  // Binding only fails on programming errors (bad index, misuse); the first
  // failure is kept and reported by Step.
  void Bind(int index, const std::string& value) {
    Keep(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                           SQLITE_TRANSIENT));
  }
  void Bind(int index, int64_t value) { Keep(sqlite3_bind_int64(stmt_, index, value)); }
  void Bind(int index, int value) { Keep(sqlite3_bind_int(stmt_, index, value)); }
  void BindNull(int index) { Keep(sqlite3_bind_null(stmt_, index)); }
  // For reuse of a cached statement after sqlite3_reset.
  void ClearBindings() {
    sqlite3_clear_bindings(stmt_);
    bind_rc_ = SQLITE_OK;
  }
  int bind_rc() const { return bind_rc_; }

  std::string Text(int col) const {
    const unsigned char* text = sqlite3_column_text(stmt_, col);
    if (text == nullptr) return "";
    return std::string(reinterpret_cast<const char*>(text),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  int64_t Int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  void Keep(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  sqlite3_stmt* stmt_ = nullptr;
  int bind_rc_ = SQLITE_OK;
};

constexpr char kRunColumns[] =
    "run_id, experiment, experiment_path, source_text, status, exit_code, "
    "started_unix_ms, ended_unix_ms, controller_pid, host, dry_run, kind, labels";

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  run_id          TEXT PRIMARY KEY NOT NULL,
  experiment      TEXT NOT NULL,
  experiment_path TEXT NOT NULL,
  source_text     TEXT NOT NULL,
  status          TEXT NOT NULL,
  exit_code       INTEGER NOT NULL,
  started_unix_ms INTEGER NOT NULL,
  ended_unix_ms   INTEGER NOT NULL,
  controller_pid  INTEGER NOT NULL,
  host            TEXT NOT NULL,
  dry_run         INTEGER NOT NULL,
  kind            TEXT NOT NULL DEFAULT '',
  labels          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs(started_unix_ms);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);
CREATE TABLE IF NOT EXISTS events (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id  TEXT NOT NULL,
  unix_ms INTEGER NOT NULL,
  type    TEXT NOT NULL,
  data    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events(run_id, seq);
PRAGMA user_version = 2;
)sql";

// v1 -> v2: the run's kind and metadata.labels. Old rows read as kind ""
// and no labels.
constexpr char kMigrateV1ToV2[] = R"sql(
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
PRAGMA user_version = 2;
)sql";

std::string LabelsJson(const std::map<std::string, std::string>& labels) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [key, value] : labels) object[key] = value;
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Lenient: a labels cell that is not a JSON object of strings reads as the
// strings it does hold (numbers and the like as their JSON text).
std::map<std::string, std::string> ParseLabels(const std::string& text) {
  std::map<std::string, std::string> labels;
  nlohmann::json object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return labels;
  for (auto it = object.begin(); it != object.end(); ++it) {
    labels[it.key()] = it.value().is_string() ? it.value().get<std::string>()
                                              : it.value().dump(-1, ' ', false,
                                                                nlohmann::json::error_handler_t::replace);
  }
  return labels;
}

bool LabelsMatch(const std::map<std::string, std::string>& have,
                 const std::map<std::string, std::string>& want) {
  for (const auto& [key, value] : want) {
    auto it = have.find(key);
    if (it == have.end()) return false;
    if (!value.empty() && it->second != value) return false;
  }
  return true;
}

bool ValidRunId(const std::string& id) {
  if (id.empty() || id.size() > 200) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Lowercase [a-z0-9-] form of the experiment name for run ids, at most 40
// characters, never empty.
std::string Slug(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (keep) {
      out.push_back(c);
    } else if (!out.empty() && out.back() != '-') {
      out.push_back('-');
    }
    if (out.size() >= 40) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "run" : out;
}

std::string GenerateRunId(int64_t started_unix_ms, const std::string& experiment) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::time_t secs = static_cast<std::time_t>(started_unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  unsigned suffix = std::uniform_int_distribution<unsigned>(0, 0xffff)(rng);
  return absl::StrFormat("%s-%s-%04x", stamp, Slug(experiment), suffix);
}

// Start time of `pid` in unix ms and whether it is a zombie, from /proc.
// nullopt when /proc cannot tell (not mounted, hidepid, raced exit).
struct ProcInfo {
  int64_t start_unix_ms = 0;
  bool zombie = false;
};
std::optional<ProcInfo> ReadProcInfo(int pid) {
  std::ifstream stat_file(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!stat_file || !std::getline(stat_file, line)) return std::nullopt;
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  std::vector<std::string> rest;  // rest[0] is field 3 (state)
  while (fields >> field) rest.push_back(field);
  if (rest.size() < 20) return std::nullopt;
  ProcInfo info;
  info.zombie = rest[0] == "Z" || rest[0] == "X";
  unsigned long long start_ticks = std::strtoull(rest[19].c_str(), nullptr, 10);  // field 22

  std::ifstream proc_stat("/proc/stat");
  long long btime = -1;
  while (std::getline(proc_stat, line)) {
    if (line.rfind("btime ", 0) == 0) {
      btime = std::strtoll(line.c_str() + 6, nullptr, 10);
      break;
    }
  }
  long ticks = sysconf(_SC_CLK_TCK);
  if (btime < 0 || ticks <= 0) return std::nullopt;
  info.start_unix_ms = static_cast<int64_t>(btime) * 1000 +
                       static_cast<int64_t>(start_ticks * 1000 / static_cast<unsigned long long>(ticks));
  return info;
}

// Whether the controller `pid` that started a run at `run_started_unix_ms`
// may still be alive. Errs on the side of "alive" when it cannot tell.
bool ControllerMayBeAlive(int pid, int64_t run_started_unix_ms) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::optional<ProcInfo> info = ReadProcInfo(pid);
  if (!info.has_value()) return true;
  if (info->zombie) return false;
  if (info->start_unix_ms > run_started_unix_ms + kPidReuseSlackMs) return false;
  return true;
}

class SqliteStore final : public JournalStore {
 public:
  SqliteStore(sqlite3* db, std::string path, JournalOptions options)
      : db_(db), path_(std::move(path)), options_(options) {}
  ~SqliteStore() override {
    insert_event_ = Stmt();
    sqlite3_close_v2(db_);
  }
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Pragmas and schema. Called once, before the store is shared.
  absl::Status Init() {
    absl::MutexLock lock(&mu_);
    sqlite3_busy_timeout(db_, kJournalBusyTimeoutMs);
    sqlite3_extended_result_codes(db_, 1);
    {
      // Returns the resulting mode: "wal", or "memory" for :memory:. A file
      // system without shared-memory support keeps the rollback journal,
      // which is equally durable with synchronous=FULL.
      FL_ASSIGN_OR_RETURN(Stmt stmt, Prepare("PRAGMA journal_mode=WAL", "enable WAL"));
      FL_RETURN_IF_ERROR(StepAll(stmt, "enable WAL"));
    }
    // FULL: every commit is fsynced. NORMAL (WAL): commits survive a crash
    // of the process but the last ones may be lost on power failure.
    FL_RETURN_IF_ERROR(options_.durability == JournalDurability::kFull
                           ? Exec("PRAGMA synchronous=FULL", "set synchronous=FULL")
                           : Exec("PRAGMA synchronous=NORMAL", "set synchronous=NORMAL"));
    FL_ASSIGN_OR_RETURN(int64_t version, UserVersion());
    if (version == kJournalSchemaVersion) return absl::OkStatus();
    if (version > kJournalSchemaVersion) return TooNew(version);
    // Concurrent first opens: the IMMEDIATE transaction serializes them and
    // the version is re-read inside it.
    FL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin schema transaction"));
    absl::Status status = [&]() -> absl::Status {
      FL_ASSIGN_OR_RETURN(int64_t v, UserVersion());
      if (v > kJournalSchemaVersion) return TooNew(v);
      if (v == 0) return Exec(kSchemaV1, "create schema");
      if (v == 1) return Exec(kMigrateV1ToV2, "migrate schema 1 -> 2");
      return absl::OkStatus();
    }();
    if (!status.ok()) {
      Rollback();
      return status;
    }
    return Exec("COMMIT", "commit schema");
  }

  absl::StatusOr<RunRecord> CreateRun(RunRecord run) override {
    bool generate = run.run_id.empty();
    if (!generate && !ValidRunId(run.run_id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "run id \"", run.run_id, "\": want 1-200 characters from [A-Za-z0-9._-]"));
    }
    if (run.started_unix_ms == 0) run.started_unix_ms = NowUnixMs();
    if (run.controller_pid == 0) run.controller_pid = static_cast<int>(getpid());
    if (run.host.empty()) run.host = LocalHostname();

    absl::MutexLock lock(&mu_);
    for (int attempt = 0;; ++attempt) {
      if (generate) run.run_id = GenerateRunId(run.started_unix_ms, run.experiment);
      FL_ASSIGN_OR_RETURN(
          Stmt stmt,
          Prepare(absl::StrCat("INSERT INTO runs(", kRunColumns,
                               ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
                  "create run"));
      stmt.Bind(1, run.run_id);
      stmt.Bind(2, run.experiment);
      stmt.Bind(3, run.experiment_path);
      stmt.Bind(4, run.source_text);
      stmt.Bind(5, RunStatusName(run.status));
      stmt.Bind(6, run.exit_code);
      stmt.Bind(7, run.started_unix_ms);
      stmt.Bind(8, run.ended_unix_ms);
      stmt.Bind(9, run.controller_pid);
      stmt.Bind(10, run.host);
      stmt.Bind(11, run.dry_run ? 1 : 0);
      stmt.Bind(12, run.kind);
      stmt.Bind(13, LabelsJson(run.labels));
      absl::Status status = StepAll(stmt, absl::StrCat("create run ", run.run_id));
      if (status.ok()) return run;
      if (absl::IsAlreadyExists(status) && generate && attempt + 1 < kRunIdAttempts) continue;
      return status;
    }
  }

  absl::Status Append(const std::string& run_id, const std::string& type,
                      const nlohmann::json& data) override {
    if (type.empty()) return absl::InvalidArgumentError("append event: empty event type");
    // `replace` keeps dump() from throwing on invalid UTF-8 in probe output.
    PendingEvent me{&run_id, &type,
                    data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                    NowUnixMs()};
    // Group commit: appenders that arrive while a transaction is being
    // written queue up; the next one to find no writer active becomes the
    // writer and commits the whole queue in one transaction. Each caller
    // returns only once its own event is committed, so durability is the
    // same as one transaction per event, but concurrent threads (probes,
    // hosts of a parallel step) share the fsync.
    absl::MutexLock queue_lock(&queue_mu_);
    queue_.push_back(&me);
    while (!me.done) {
      if (writer_active_) {
        queue_cv_.Wait(&queue_mu_);
        continue;
      }
      writer_active_ = true;
      std::vector<PendingEvent*> batch;
      batch.swap(queue_);
      queue_mu_.Unlock();
      WriteBatch(batch);
      queue_mu_.Lock();
      for (PendingEvent* event : batch) event->done = true;
      writer_active_ = false;
      queue_cv_.SignalAll();
    }
    return me.status;
  }

  absl::Status FinishRun(const std::string& run_id, RunStatus status, int exit_code) override {
    if (!IsFinal(status)) {
      return absl::InvalidArgumentError(
          absl::StrCat("finish run ", run_id, ": final status required, got running"));
    }
    absl::MutexLock lock(&mu_);
    FL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin finish run"));
    absl::Status result = [&]() -> absl::Status {
      FL_ASSIGN_OR_RETURN(RunRecord current, GetExactLocked(run_id));
      if (current.status != RunStatus::kRunning && current.status != RunStatus::kInterrupted) {
        if (current.status == status && current.exit_code == exit_code) return absl::OkStatus();
        return absl::FailedPreconditionError(absl::StrCat(
            "finish run ", run_id, " as ", RunStatusName(status), ": already finished as ",
            RunStatusName(current.status), " (exit ", current.exit_code, ")"));
      }
      FL_ASSIGN_OR_RETURN(Stmt stmt, Prepare("UPDATE runs SET status = ?2, exit_code = ?3, "
                                             "ended_unix_ms = ?4 WHERE run_id = ?1",
                                             "finish run"));
      stmt.Bind(1, run_id);
      stmt.Bind(2, RunStatusName(status));
      stmt.Bind(3, exit_code);
      stmt.Bind(4, NowUnixMs());
      return StepAll(stmt, absl::StrCat("finish run ", run_id));
    }();
    if (!result.ok()) {
      Rollback();
      return result;
    }
    return Exec("COMMIT", absl::StrCat("commit finish run ", run_id));
  }

  absl::StatusOr<RunRecord> GetRun(const std::string& query) override {
    if (query.empty()) return absl::InvalidArgumentError("look up run: empty run id");
    absl::MutexLock lock(&mu_);
    absl::StatusOr<RunRecord> exact = GetExactLocked(query);
    if (!absl::IsNotFound(exact.status())) return exact;
    // Prefix first ("20261127-14"), then suffix ("quickstart-3f9a", "3f9a").
    // Candidates are capped: 11 is enough to say "ambiguous" and list 10.
    for (const char* where : {"substr(run_id, 1, length(?1)) = ?1",
                              "substr(run_id, -length(?1)) = ?1"}) {
      FL_ASSIGN_OR_RETURN(
          Stmt stmt, Prepare(absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE ", where,
                                          " ORDER BY started_unix_ms DESC, run_id DESC LIMIT 11"),
                             "look up run"));
      stmt.Bind(1, query);
      FL_ASSIGN_OR_RETURN(std::vector<RunRecord> found,
                          CollectRuns(stmt, absl::StrCat("look up run ", query)));
      if (found.size() == 1) return std::move(found[0]);
      if (found.size() > 1) {
        std::vector<std::string> ids;
        for (size_t i = 0; i < found.size() && i < 10; ++i) ids.push_back(found[i].run_id);
        return absl::InvalidArgumentError(
            absl::StrCat("run \"", query, "\" is ambiguous: matches ", absl::StrJoin(ids, ", "),
                         found.size() > 10 ? " and more" : ""));
      }
    }
    return NoSuchRun(query);
  }

  absl::StatusOr<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override {
    absl::MutexLock lock(&mu_);
    FL_ASSIGN_OR_RETURN(
        Stmt stmt,
        Prepare(absl::StrCat("SELECT ", kRunColumns,
                             " FROM runs WHERE (?1 = '' OR experiment = ?1) AND "
                             "(?2 IS NULL OR status = ?2) AND started_unix_ms >= ?4 "
                             "ORDER BY started_unix_ms DESC, run_id DESC LIMIT ?3"),
                "list runs"));
    stmt.Bind(1, filter.experiment);
    if (filter.status.has_value()) {
      stmt.Bind(2, RunStatusName(*filter.status));
    } else {
      stmt.BindNull(2);
    }
    // Labels are matched here, after the query, so the limit must wait too.
    const bool by_labels = !filter.labels.empty();
    stmt.Bind(3, filter.limit > 0 && !by_labels ? filter.limit : -1);
    stmt.Bind(4, filter.since_unix_ms);
    FL_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, CollectRuns(stmt, "list runs"));
    if (!by_labels) return runs;
    std::vector<RunRecord> matched;
    for (RunRecord& run : runs) {
      if (filter.limit > 0 && matched.size() >= static_cast<size_t>(filter.limit)) break;
      if (LabelsMatch(run.labels, filter.labels)) matched.push_back(std::move(run));
    }
    return matched;
  }

  absl::StatusOr<std::vector<Event>> Events(const std::string& run_id,
                                            int64_t after_seq) override {
    absl::MutexLock lock(&mu_);
    // Read the run and its events from one snapshot.
    FL_RETURN_IF_ERROR(Exec("BEGIN", "begin read events"));
    absl::StatusOr<std::vector<Event>> events = EventsLocked(run_id, after_seq);
    Rollback();  // read-only: nothing to commit
    return events;
  }

  absl::StatusOr<std::vector<RunRecord>> MarkInterrupted() override {
    const std::string host = LocalHostname();
    absl::MutexLock lock(&mu_);
    std::vector<RunRecord> running;
    {
      FL_ASSIGN_OR_RETURN(
          Stmt stmt, Prepare(absl::StrCat("SELECT ", kRunColumns,
                                          " FROM runs WHERE status = ?1 AND host = ?2 "
                                          "ORDER BY started_unix_ms, run_id"),
                             "find running runs"));
      stmt.Bind(1, RunStatusName(RunStatus::kRunning));
      stmt.Bind(2, host);
      FL_ASSIGN_OR_RETURN(running, CollectRuns(stmt, "find running runs"));
    }
    std::vector<RunRecord> marked;
    for (RunRecord& run : running) {
      if (ControllerMayBeAlive(run.controller_pid, run.started_unix_ms)) continue;
      FL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin mark interrupted"));
      absl::StatusOr<bool> changed = MarkOneLocked(run);
      if (!changed.ok()) {
        Rollback();
        return changed.status();
      }
      FL_RETURN_IF_ERROR(Exec("COMMIT", absl::StrCat("commit mark interrupted ", run.run_id)));
      if (*changed) marked.push_back(std::move(run));
    }
    return marked;
  }

 private:
  // One Append waiting for its transaction.
  struct PendingEvent {
    const std::string* run_id;
    const std::string* type;
    std::string text;
    int64_t unix_ms;
    absl::Status status{};
    bool done = false;
  };

  // Inserts one event (existence check and insert in one statement).
  absl::Status InsertEvent(PendingEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string& run_id = *event.run_id;
    if (insert_event_.get() == nullptr) {
      FL_ASSIGN_OR_RETURN(
          insert_event_,
          Prepare("INSERT INTO events(run_id, unix_ms, type, data) SELECT ?1, ?2, ?3, ?4 "
                  "WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)",
                  "append event"));
    }
    sqlite3_reset(insert_event_.get());
    insert_event_.ClearBindings();
    insert_event_.Bind(1, run_id);
    insert_event_.Bind(2, event.unix_ms);
    insert_event_.Bind(3, *event.type);
    insert_event_.Bind(4, event.text);
    absl::Status status =
        StepAll(insert_event_, absl::StrCat("append ", *event.type, " to run ", run_id));
    sqlite3_reset(insert_event_.get());
    if (!status.ok()) return status;
    if (sqlite3_changes(db_) == 0) return NoSuchRun(run_id);
    return absl::OkStatus();
  }

  // Commits `batch` in one transaction (a single event autocommits). If the
  // transaction cannot be committed, each event is retried on its own so one
  // bad event never fails the others.
  void WriteBatch(const std::vector<PendingEvent*>& batch) {
    absl::MutexLock lock(&mu_);
    if (batch.size() > 1) {
      absl::Status status = Exec("BEGIN IMMEDIATE", "begin append batch");
      for (size_t i = 0; status.ok() && i < batch.size(); ++i) {
        batch[i]->status = InsertEvent(*batch[i]);
        // A missing run is that event's answer, not a reason to roll back.
        if (!batch[i]->status.ok() && !absl::IsNotFound(batch[i]->status)) {
          status = batch[i]->status;
        }
      }
      if (status.ok()) status = Exec("COMMIT", "commit append batch");
      if (status.ok()) return;
      Rollback();
    }
    for (PendingEvent* event : batch) event->status = InsertEvent(*event);
  }

  absl::StatusOr<Stmt> Prepare(const std::string& sql, absl::string_view op)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
    Stmt stmt(raw);
    if (rc != SQLITE_OK) return SqliteStatus(rc, db_, path_, op);
    return stmt;
  }

  // Steps once: true with a row, false when done.
  absl::StatusOr<bool> Step(Stmt& stmt, absl::string_view op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stmt.bind_rc() != SQLITE_OK) return SqliteStatus(stmt.bind_rc(), db_, path_, op);
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(rc, db_, path_, op);
  }

  absl::Status StepAll(Stmt& stmt, absl::string_view op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (true) {
      FL_ASSIGN_OR_RETURN(bool row, Step(stmt, op));
      if (!row) return absl::OkStatus();
    }
  }

  absl::Status Exec(const char* sql, absl::string_view op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    return SqliteStatus(rc, db_, path_, op);
  }

  // Ends an open transaction without keeping its changes. A failure here
  // (no transaction open) needs no handling: the caller already has an error.
  void Rollback() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

  absl::StatusOr<int64_t> UserVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FL_ASSIGN_OR_RETURN(Stmt stmt, Prepare("PRAGMA user_version", "read schema version"));
    FL_ASSIGN_OR_RETURN(bool row, Step(stmt, "read schema version"));
    return row ? stmt.Int64(0) : 0;
  }

  absl::Status TooNew(int64_t version) const {
    return absl::FailedPreconditionError(absl::StrCat(
        "journal ", path_, ": schema version ", version,
        " was written by a newer faultline (this one reads up to ", kJournalSchemaVersion, ")"));
  }

  absl::Status NoSuchRun(const std::string& run_id) const {
    return absl::NotFoundError(absl::StrCat("journal ", path_, ": no run \"", run_id, "\""));
  }

  absl::StatusOr<RunRecord> RowToRun(const Stmt& stmt) const {
    RunRecord run;
    run.run_id = stmt.Text(0);
    run.experiment = stmt.Text(1);
    run.experiment_path = stmt.Text(2);
    run.source_text = stmt.Text(3);
    absl::StatusOr<RunStatus> status = ParseRunStatus(stmt.Text(4));
    if (!status.ok()) {
      return absl::DataLossError(absl::StrCat("journal ", path_, ": run ", run.run_id, ": ",
                                              status.status().message()));
    }
    run.status = *status;
    run.exit_code = static_cast<int>(stmt.Int64(5));
    run.started_unix_ms = stmt.Int64(6);
    run.ended_unix_ms = stmt.Int64(7);
    run.controller_pid = static_cast<int>(stmt.Int64(8));
    run.host = stmt.Text(9);
    run.dry_run = stmt.Int64(10) != 0;
    run.kind = stmt.Text(11);
    run.labels = ParseLabels(stmt.Text(12));
    return run;
  }

  absl::StatusOr<std::vector<RunRecord>> CollectRuns(Stmt& stmt, absl::string_view op)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<RunRecord> runs;
    while (true) {
      FL_ASSIGN_OR_RETURN(bool row, Step(stmt, op));
      if (!row) return runs;
      FL_ASSIGN_OR_RETURN(RunRecord run, RowToRun(stmt));
      runs.push_back(std::move(run));
    }
  }

  absl::StatusOr<RunRecord> GetExactLocked(const std::string& run_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FL_ASSIGN_OR_RETURN(
        Stmt stmt,
        Prepare(absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE run_id = ?1"), "read run"));
    stmt.Bind(1, run_id);
    FL_ASSIGN_OR_RETURN(std::vector<RunRecord> runs,
                        CollectRuns(stmt, absl::StrCat("read run ", run_id)));
    if (runs.empty()) return NoSuchRun(run_id);
    return std::move(runs[0]);
  }

  absl::StatusOr<std::vector<Event>> EventsLocked(const std::string& run_id, int64_t after_seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FL_RETURN_IF_ERROR(GetExactLocked(run_id).status());
    FL_ASSIGN_OR_RETURN(Stmt stmt, Prepare("SELECT seq, run_id, unix_ms, type, data FROM events "
                                           "WHERE run_id = ?1 AND seq > ?2 ORDER BY seq",
                                           "read events"));
    stmt.Bind(1, run_id);
    stmt.Bind(2, after_seq);
    std::vector<Event> events;
    while (true) {
      FL_ASSIGN_OR_RETURN(bool row, Step(stmt, absl::StrCat("read events of run ", run_id)));
      if (!row) return events;
      Event event;
      event.seq = stmt.Int64(0);
      event.run_id = stmt.Text(1);
      event.unix_ms = stmt.Int64(2);
      event.type = stmt.Text(3);
      event.data = nlohmann::json::parse(stmt.Text(4), nullptr, /*allow_exceptions=*/false);
      if (event.data.is_discarded()) {
        return absl::DataLossError(absl::StrCat("journal ", path_, ": run ", run_id,
                                                ": event seq ", event.seq, " (", event.type,
                                                "): data is not valid JSON"));
      }
      events.push_back(std::move(event));
    }
  }

  // Inside an open write transaction: flips `run` to interrupted if it is
  // still running and records why. Updates `run` to the stored values.
  absl::StatusOr<bool> MarkOneLocked(RunRecord& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int64_t last_seen = run.started_unix_ms;
    {
      FL_ASSIGN_OR_RETURN(Stmt stmt, Prepare("SELECT max(unix_ms) FROM events WHERE run_id = ?1",
                                             "read last event time"));
      stmt.Bind(1, run.run_id);
      FL_ASSIGN_OR_RETURN(bool row, Step(stmt, "read last event time"));
      if (row && !stmt.IsNull(0)) last_seen = std::max(last_seen, stmt.Int64(0));
    }
    {
      FL_ASSIGN_OR_RETURN(Stmt stmt,
                          Prepare("UPDATE runs SET status = ?2, ended_unix_ms = ?3 "
                                  "WHERE run_id = ?1 AND status = ?4",
                                  "mark run interrupted"));
      stmt.Bind(1, run.run_id);
      stmt.Bind(2, RunStatusName(RunStatus::kInterrupted));
      stmt.Bind(3, last_seen);
      stmt.Bind(4, RunStatusName(RunStatus::kRunning));
      FL_RETURN_IF_ERROR(StepAll(stmt, absl::StrCat("mark run ", run.run_id, " interrupted")));
      if (sqlite3_changes(db_) == 0) return false;  // finished meanwhile
    }
    nlohmann::json data = {
        {"reason", absl::StrCat("controller pid ", run.controller_pid, " on ", run.host,
                                " exited without finishing the run")},
        {"controller_pid", run.controller_pid},
        {"host", run.host},
    };
    FL_ASSIGN_OR_RETURN(Stmt stmt, Prepare("INSERT INTO events(run_id, unix_ms, type, data) "
                                           "VALUES(?1, ?2, ?3, ?4)",
                                           "append run.interrupted"));
    stmt.Bind(1, run.run_id);
    stmt.Bind(2, NowUnixMs());
    stmt.Bind(3, std::string("run.interrupted"));
    stmt.Bind(4, data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    FL_RETURN_IF_ERROR(StepAll(stmt, absl::StrCat("append run.interrupted to ", run.run_id)));
    run.status = RunStatus::kInterrupted;
    run.ended_unix_ms = last_seen;
    return true;
  }

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);  // owned; opened NOMUTEX, serialized by mu_
  const std::string path_;
  const JournalOptions options_;
  Stmt insert_event_ ABSL_GUARDED_BY(mu_);  // cached: Append is the hot path

  // Group commit (see Append). Lock order: queue_mu_ is never held while
  // taking mu_.
  absl::Mutex queue_mu_;
  absl::CondVar queue_cv_;
  std::vector<PendingEvent*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool writer_active_ ABSL_GUARDED_BY(queue_mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<JournalStore>> OpenSqliteStore(const std::string& path,
                                                             JournalOptions options) {
  if (path.empty()) return absl::InvalidArgumentError("open journal: empty path");
  if (path != ":memory:") {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        return ErrnoToStatus(ec.value(),
                             absl::StrCat("create journal directory ", parent.string()));
      }
    }
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = SqliteStatus(rc, db, path, "open");
    sqlite3_close_v2(db);
    return status;
  }
  auto store = std::make_unique<SqliteStore>(db, path, options);
  FL_RETURN_IF_ERROR(store->Init());
  return store;
}

absl::StatusOr<JournalDurability> ParseJournalDurability(const std::string& name) {
  if (name == "full") return JournalDurability::kFull;
  if (name == "normal") return JournalDurability::kNormal;
  return absl::InvalidArgumentError(
      absl::StrCat("journal durability must be full or normal, got \"", name, "\""));
}

std::string DefaultJournalPath() {
  const char* env = std::getenv("FAULTLINE_JOURNAL");
  if (env != nullptr && env[0] != '\0') return env;
  if (geteuid() == 0) return "/var/lib/faultline/journal.db";
  const char* xdg = std::getenv("XDG_STATE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return absl::StrCat(xdg, "/faultline/journal.db");
  std::string home;
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] != '\0') {
    home = h;
  } else if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_dir != nullptr) {
    home = pw->pw_dir;
  } else {
    return "faultline-journal.db";  // no home at all: current directory
  }
  return absl::StrCat(home, "/.local/state/faultline/journal.db");
}

}  // namespace faultline::controller
