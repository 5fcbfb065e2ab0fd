// Policy: the agent operator's limits on what any caller may inject on this
// host, whoever is authorised to call Apply. Read from the `policy:` section
// of the agent config file (ReadPolicy), handed to the FaultManager through
// ManagerOptions, and checked there before the host is touched, for dry runs
// too (so `faultline plan` shows a denial per host).
//
// Data flow: YAML node -> ReadPolicy (file:line:col diagnostics) -> Policy
// (plain value) -> FaultManager::Apply: CheckRequest (pure: kind, duration,
// per-kind limits, interfaces, obviously protected targets) and
// CheckConcurrent (needs the active count). Protected processes are enforced
// again where targets are really resolved (agent/faults/process_target.h),
// because a name or regex selector only reveals its processes on the host.
//
// Every refusal is PermissionDenied with a message of the form
//   "policy <rule> (<limit>) refuses <what>"
// e.g. "policy max_delay (500ms) refuses network.delay of 800ms (delay 700ms
// + jitter 100ms)". A default-constructed Policy has no limits (the always
// protected processes stay protected: they are not a policy choice).
//
// Plain value type: copyable, immutable after ReadPolicy; const methods are
// pure (no I/O, no globals, no aborts for any input) and thread-safe.
#ifndef FAULTLINE_AGENT_POLICY_POLICY_H_
#define FAULTLINE_AGENT_POLICY_POLICY_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/yaml/fields.h"
#include "common/yaml/yaml_tree.h"
#include "faultline/v1/agent.pb.h"

namespace faultline::agent {

// memory.pressure limit: bytes, or percent of MemTotal. Exactly one is set.
struct MemoryLimit {
  uint64_t bytes = 0;
  double percent = 0;
};

struct Policy {
  // Kinds Apply accepts; globs ("network.*", fnmatch(3) syntax). Unset = all.
  // Set but empty = none.
  std::optional<std::vector<std::string>> allowed_kinds;
  // network.delay: delay + jitter at most this.
  std::optional<std::chrono::microseconds> max_delay;
  // network.loss (random percent; Gilbert-Elliott: the long-run average
  // loss) and network.corrupt (a corrupt packet is a lost one): at most this.
  std::optional<double> max_loss_pct;
  // cpu.pressure: load_pct of each worker at most this.
  std::optional<double> max_cpu_pct;
  // memory.pressure: size at most this.
  std::optional<MemoryLimit> max_memory;
  // duration_ms and (when set) ttl_ms of any fault at most this.
  std::optional<std::chrono::milliseconds> max_duration;
  // Network faults may name only these interfaces (globs). Unset = any; when
  // set, a network fault must name target.interface (the route's interface
  // is only known on the host, after this check).
  std::optional<std::vector<std::string>> interfaces;
  // Processes no fault may signal, besides the always protected ones (pid 1,
  // sshd, the agent, its ancestors, --parent-pid): an entry is a comm / exe
  // name ("postgres"; also matches a comm the kernel truncated to 15 bytes,
  // and the basename of argv[0]), or "cmdline:<substring>" searched in the
  // space-joined command line.
  std::vector<std::string> protected_processes;
  // Faults active at once on this agent (PermissionDenied; the agent-wide
  // --max-faults cap stays ResourceExhausted).
  std::optional<uint32_t> max_concurrent_faults;

  // MemTotal of the host in bytes, 0 = unknown. Not read from the file: the
  // FaultManager fills it at start so a byte limit can be compared with a
  // percent spec and vice versa. When it is 0 such a mixed comparison refuses.
  uint64_t mem_total_bytes = 0;

  // True when no limit is set (protected_processes empty too).
  bool Unlimited() const;

  // The request-only checks, in this order: allowed_kinds, max_duration (then
  // ttl), the kind's limit (max_delay / max_loss_pct / max_cpu_pct /
  // max_memory), interfaces, protected targets a request names outright (pid
  // 1, name "sshd", a name equal to a protected_processes entry).
  // PermissionDenied "policy <rule> (<limit>) refuses <what>"; OK for
  // everything else (a malformed request is ValidateApplyRequest's business,
  // never a crash here). Pure.
  absl::Status CheckRequest(const v1::ApplyRequest& request) const;

  // PermissionDenied "policy max_concurrent_faults (4) refuses another fault:
  // 4 active" when `active` has reached the limit. Pure.
  absl::Status CheckConcurrent(size_t active) const;

  // One line for logs: "allowed_kinds=[network.*] max_delay=500ms ..." or
  // "no limits".
  std::string Describe() const;
};

// Reads the value of the config file's `policy:` key. Unknown keys get a
// "did you mean" suggestion; every problem is a diagnostic at the offending
// node's file:line:col. Returns nullopt when any diagnostic was added. A null
// node (`policy:` with nothing after it) is an empty Policy.
std::optional<Policy> ReadPolicy(const YamlNode& node, Diagnostics* diagnostics);

// True when `name` matches the fnmatch(3) glob `pattern` (no flags). Pure.
bool GlobMatches(const std::string& pattern, const std::string& name);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_POLICY_POLICY_H_
