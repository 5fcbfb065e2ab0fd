// Cgroups on this host: where the hierarchies are, and the per-fault cgroup
// directories that cpu.pressure and memory.pressure put their stressor into.
//
// Faults call DetectCgroups() once in Prepare() to learn which hierarchy
// offers a controller: a cgroup v2 (unified) mount when its root lists the
// controller in cgroup.controllers, otherwise the v1 mount of that
// controller. A fault's cgroup lives at
//   <hierarchy mount>/<this process's cgroup in it>/<parent>/<fault id>
// e.g. /sys/fs/cgroup/cpu/faultline/f1 or
// /sys/fs/cgroup/memory/process_api/ab12/faultline/f1 — children are created
// under the cgroup the agent already sits in (a v1 memory cgroup elsewhere
// would escape the limits set on the agent's own cgroup).
//
// Ownership: every mutating function touches only an *owned* path: an
// absolute path whose last two components are `<parent>/<leaf>` and whose
// directory lies on a cgroup filesystem (checked with statfs). Paths are
// plain strings so they can be persisted in v1::RevertState and used by a
// fresh process after a crash. Implemented in host/linux/cgroup.cc; all
// functions are thread-safe (they only touch the filesystem).
#ifndef FAULTLINE_AGENT_HOST_CGROUP_H_
#define FAULTLINE_AGENT_HOST_CGROUP_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace faultline::agent {

struct CgroupHierarchy {
  int version = 1;                       // 1 or 2
  std::string mount;                     // e.g. /sys/fs/cgroup/memory
  std::string base;                      // mount + this process's cgroup in it
  std::vector<std::string> controllers;  // v1: mount options; v2: root cgroup.controllers
};

// The hierarchies visible to this process. A value type; cheap to copy.
class CgroupLayout {
 public:
  // The hierarchy that offers `controller` ("cpu", "cpuacct", "memory"): v2
  // if the unified root lists it, else its v1 mount; nullopt if neither.
  std::optional<CgroupHierarchy> For(absl::string_view controller) const;

  // The cgroup2 mount if there is one (whatever controllers it offers).
  std::optional<CgroupHierarchy> Unified() const;

  const std::vector<CgroupHierarchy>& hierarchies() const { return hierarchies_; }

  // Builds a layout from the text of /proc/self/mountinfo and
  // /proc/self/cgroup plus the unified root's cgroup.controllers (may be
  // ""). Pure; exposed for tests. InvalidArgument on unparsable input.
  static absl::StatusOr<CgroupLayout> Parse(absl::string_view mountinfo,
                                            absl::string_view self_cgroup,
                                            absl::string_view unified_controllers);

 private:
  std::vector<CgroupHierarchy> hierarchies_;
};

// Reads /proc/self/mountinfo, /proc/self/cgroup and the unified root's
// cgroup.controllers. A host without cgroups yields an empty layout (OK);
// Internal if /proc cannot be read. No side effects.
absl::StatusOr<CgroupLayout> DetectCgroups();

// True if this process may create cgroups under hierarchy.base (write
// access to a writable filesystem). No side effects.
bool CanCreateUnder(const CgroupHierarchy& hierarchy);

// `<base>/<parent>/<fault_id>` for `hierarchy`. Pure. Callers check
// IsValidCgroupName(fault_id) first.
std::string FaultCgroupPath(const CgroupHierarchy& hierarchy, absl::string_view parent,
                            absl::string_view fault_id);

// True if `name` can be one cgroup directory name: 1..200 chars, no '/',
// not "." or "..", no control characters.
bool IsValidCgroupName(absl::string_view name);

// OK if `path` is owned: absolute, normalised, `<...>/<parent>/<leaf>` with
// valid names, and its nearest existing ancestor is on a cgroup filesystem.
// InvalidArgument otherwise. No side effects.
absl::Status CheckOwnedCgroupPath(absl::string_view path, absl::string_view parent);

// Creates the owned cgroup `path` (and its `<parent>` directory if needed).
// In a v2 hierarchy also enables `v2_controllers` (e.g. {"memory"}) for
// `<parent>` and its children where the hierarchy delegates them (best
// effort: a cgroup holding the agent itself cannot delegate). AlreadyExists if
// `path` exists (a leftover of the same fault id: revert it first);
// PermissionDenied, NotFound (base gone), InvalidArgument (not owned). Not
// idempotent by design.
absl::Status CreateCgroup(const std::string& path, absl::string_view parent,
                          const std::vector<std::string>& v2_controllers = {});

// Moves `pid` into `path` (writes cgroup.procs). NotFound if the cgroup or
// process is gone. Idempotent.
absl::Status AddToCgroup(const std::string& path, pid_t pid);

// Pids in `path` (cgroup.procs). NotFound if the cgroup does not exist.
absl::StatusOr<std::vector<pid_t>> CgroupPids(const std::string& path);

// cpuacct.usage (v1, ns) or cpu.stat usage_usec*1000 (v2) of `path`.
// NotFound if the cgroup or the file does not exist.
absl::StatusOr<uint64_t> CgroupCpuUsageNs(const std::string& path);

// memory.usage_in_bytes (v1) or memory.current (v2). NotFound if absent.
absl::StatusOr<uint64_t> CgroupMemoryBytes(const std::string& path);

// SIGKILLs every process in the owned cgroup `path` (v2: cgroup.kill when
// available). Each pid is pinned with a pidfd and re-checked for membership
// before the signal, so a reused pid is never hit. OK if the cgroup is gone.
// Idempotent.
absl::Status KillCgroup(const std::string& path, absl::string_view parent);

// Kills what is left in the owned cgroup `path`, removes it (retrying while
// the kernel still lists exiting tasks, up to `timeout`) and then removes
// `<parent>` if it became empty. OK if already gone; DeadlineExceeded if it
// stays busy; InvalidArgument if not owned. Idempotent.
absl::Status RemoveCgroup(const std::string& path, absl::string_view parent,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_HOST_CGROUP_H_
