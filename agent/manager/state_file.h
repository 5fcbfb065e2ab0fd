// StateFile: the agent's durable write-ahead record of applied faults
// (state_dir/state.json, the JSON encoding of v1::AgentState).
//
// FaultManager rewrites it before it touches the host and again after, and
// reads it once at start to revert what a previous process left behind. A
// write replaces the file atomically (temp file, fsync, rename, fsync of the
// directory), so a crash leaves either the old or the new content, never a
// torn one.
//
// Not thread-safe: FaultManager serialises calls under its mutex.
#ifndef FAULTLINE_AGENT_MANAGER_STATE_FILE_H_
#define FAULTLINE_AGENT_MANAGER_STATE_FILE_H_

#include <cstdint>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/unique_fd.h"
#include "faultline/v1/agent.pb.h"

namespace faultline::agent {

class StateFile {
 public:
  explicit StateFile(std::filesystem::path dir);

  // Creates the state directory (mode 0700) if it is missing. Idempotent.
  // PermissionDenied / Internal when it cannot be created.
  absl::Status EnsureDir() const;

  // Takes an exclusive advisory lock (flock on state_dir/lock) held until
  // this object is destroyed, so two agents never share a state dir.
  // FailedPrecondition if another process (or StateFile) holds it.
  absl::Status Lock();

  // Reads the state. A missing file is an empty state. DataLoss when the file
  // exists but is not a valid AgentState; other read errors by errno.
  absl::StatusOr<v1::AgentState> Read() const;

  // Atomically replaces the file with `state` and makes it durable.
  absl::Status Write(const v1::AgentState& state) const;

  // Renames the file to "state.json.corrupt-<unix_seconds>" and returns the
  // new path. Used for a file Read() reported as DataLoss.
  absl::StatusOr<std::filesystem::path> MoveAside(int64_t unix_seconds) const;

  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path path_;
  UniqueFd lock_fd_;
};

// Writes `content` to `path` atomically and durably: a temp file in the same
// directory, fsync, rename over `path`, fsync of the directory. Used for the
// state file and the daemon's ready file.
absl::Status WriteFileAtomically(const std::filesystem::path& path, const std::string& content,
                                 mode_t mode = 0600);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_MANAGER_STATE_FILE_H_
