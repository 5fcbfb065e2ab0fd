// The embedded journal backend: one SQLite file, written in WAL mode. With
// the default durability (full, synchronous=FULL) each committed write is on
// disk when the call returns; concurrent appends share a transaction (group
// commit) without weakening that.
//
// Schema (PRAGMA user_version = 2):
//   runs(run_id TEXT PRIMARY KEY, experiment, experiment_path, source_text,
//        status TEXT, exit_code, started_unix_ms, ended_unix_ms,
//        controller_pid, host, dry_run,
//        kind TEXT /* v2 */, labels TEXT /* v2: JSON object */)
//   events(seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id, unix_ms, type,
//          data TEXT /* JSON */), index on (run_id, seq)
// Later versions migrate forward from user_version when the journal is
// opened (v1 -> v2: ALTER TABLE adds kind = '' and labels = '{}'), in one
// transaction; a journal written by a newer faultline is refused rather than
// misread (so a v2 journal is refused by builds that read only v1).
//
// Several processes may hold the same file open (controller, serve daemon,
// `faultline show`): writers wait up to a busy timeout for each other. A
// store must not be used across fork(); open a new one in the child.
#ifndef FAULTLINE_CONTROLLER_STORE_SQLITE_STORE_H_
#define FAULTLINE_CONTROLLER_STORE_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controller/store/journal_store.h"

namespace faultline::controller {

// The journal schema version this build reads and writes.
inline constexpr int kJournalSchemaVersion = 2;

// How long a write waits for another process holding the write lock before
// failing with Unavailable.
inline constexpr int kJournalBusyTimeoutMs = 10000;

// How hard each committed write is pushed to stable storage.
enum class JournalDurability {
  // synchronous=FULL: a write that returned survives power loss. Default.
  kFull,
  // synchronous=NORMAL in WAL mode: survives a crash of the process (the
  // controller being SIGKILLed), but the last commits before a power loss or
  // kernel crash may be lost. ~10x more appends per second.
  kNormal,
};

// "full" / "normal" (--journal-durability); InvalidArgument otherwise.
absl::StatusOr<JournalDurability> ParseJournalDurability(const std::string& name);

struct JournalOptions {
  JournalDurability durability = JournalDurability::kFull;
};

// Opens (creating parent directories, file and schema as needed) the journal
// at `path`; ":memory:" gives a private in-memory journal for tests.
// The returned store is thread-safe.
// PermissionDenied / NotFound: cannot create or open the file or its
// directory. DataLoss: not a SQLite database, or corrupt.
// FailedPrecondition: written by a newer faultline (schema version too new).
// Unavailable: locked by another process for longer than the busy timeout.
absl::StatusOr<std::unique_ptr<JournalStore>> OpenSqliteStore(const std::string& path,
                                                             JournalOptions options = {});

// Where the journal lives unless --journal says otherwise:
//   $FAULTLINE_JOURNAL if set and non-empty;
//   /var/lib/faultline/journal.db when running as root (euid 0);
//   $XDG_STATE_HOME/faultline/journal.db if XDG_STATE_HOME is an absolute path;
//   ~/.local/state/faultline/journal.db otherwise ($HOME, else the passwd entry).
std::string DefaultJournalPath();

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_STORE_SQLITE_STORE_H_
