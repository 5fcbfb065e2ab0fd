// Target resolution shared by process.kill and process.pause: turns a
// v1::ProcessTarget plus count / percent into the exact processes, identified
// by (pid, start_time), that a fault may signal.
//
// Data flow: spec -> ProcessMatcher (validated once, pure) -> ResolveTargets
// (one /proc scan through host/process.h, protected processes filtered out)
// -> SelectOldest (count / percent). The faults then act only through
// PidFd::Open(pid, start_time), so a reused pid is never hit.
//
// Protection (one place for every process fault): pid 1, comm "sshd", the
// agent itself, its ancestors (now and at agent start), kernel threads,
// FaultContext::protected_pids (e.g. --parent-pid) and the policy's
// protected_processes entries (FaultContext::protected_processes). Naming a
// protected pid, or a name / cmdline selector that matches any protected
// process, is refused with PermissionDenied naming the pid, its comm and the
// rule, e.g. "process.kill: policy protected_processes: pid 812 (sshd) is
// always protected (ssh daemon)" or "process.kill: policy
// protected_processes (postgres) refuses pid 812 (postgres)"; nothing is
// skipped silently. Exceptions: kernel threads matched by a name / cmdline
// are skipped (they cannot be signalled), and the repeat rounds of
// process.kill skip protected processes (ResolveOptions::refuse_protected
// false) since the fault was already admitted. Zombies never match (they
// cannot be signalled usefully).
//
// Selection is deterministic: matches are ordered by (start_time, pid)
// ascending and the first N are taken, i.e. the oldest processes go first.
// That makes `count: 1` repeatable across runs (the same long-lived process
// is picked) and leaves the most recently (re)started replicas alone.
//
// Everything here is thread-safe: ProcessMatcher and ProtectedSet are
// immutable after construction and the free functions keep no state.
#ifndef FAULTLINE_AGENT_FAULTS_PROCESS_TARGET_H_
#define FAULTLINE_AGENT_FAULTS_PROCESS_TARGET_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/faults/fault_factory.h"
#include "agent/host/process.h"
#include "faultline/v1/faults.pb.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace faultline::agent {

// The longest name that can equal /proc/PID/comm (TASK_COMM_LEN - 1).
inline constexpr size_t kMaxCommLength = 15;
// cmdline patterns are RE2 regexes, matched in time linear in the cmdline
// (no backtracking, no recursion), so a cmdline of any length is searched in
// full. The pattern length is bounded to keep the compiled program small.
inline constexpr size_t kMaxCmdlinePatternLength = 512;
// Memory budget of one compiled cmdline pattern (program plus DFA cache; RE2
// falls back to its slower, still linear, NFA when the DFA runs out). A
// pattern whose program alone does not fit is rejected as too large. Typical
// patterns search a 200 KB cmdline in well under a millisecond; the worst
// case (a DFA that cannot fit, e.g. "a[ab]{400}c" against a/b text) runs
// the NFA at a few microseconds per byte.
inline constexpr int64_t kCmdlineRegexMaxMem = int64_t{4} << 20;

// True for a stopped process: state T (stopped by a signal) or t (stopped by
// a tracer), as ProcessInfo::state reports it.
bool IsStoppedState(char state);

// Decides whether one process is selected by a v1::ProcessTarget. Copyable,
// immutable, thread-safe.
class ProcessMatcher {
 public:
  // Validates `target` for fault kind `kind` (used as the message prefix).
  // InvalidArgument: no selector ("process.kill: exactly one of pid, name,
  // cmdline must be set"), pid <= 0, empty name or one longer than
  // kMaxCommLength, empty cmdline or one longer than
  // kMaxCmdlinePatternLength, cmdline not a valid RE2 regex (RE2's reason in
  // the message, e.g. lookaround "(?=" or a backreference) or too large to
  // compile within kCmdlineRegexMaxMem. Pure.
  static absl::StatusOr<ProcessMatcher> Create(absl::string_view kind,
                                               const v1::ProcessTarget& target);

  // True if `process` is selected by the target: same pid, comm equal to the
  // name, or the regex found anywhere in the space-joined cmdline (unanchored
  // search, byte-wise: Latin-1, so non-UTF-8 argv bytes match like any
  // other). Linear in the cmdline length. Says nothing about protection.
  bool Matches(const ProcessInfo& process) const;

  // Set for the pid selector.
  std::optional<pid_t> pid() const { return pid_; }
  const std::string& kind() const { return kind_; }
  // For messages: `pid 812`, `name "worker"`, `cmdline /worker --id=.*/`.
  std::string Describe() const;
  // For target(): `pid=812`, `name=worker`, `cmdline=worker --id=.*`.
  std::string Selector() const;

 private:
  ProcessMatcher() = default;

  std::string kind_;
  std::optional<pid_t> pid_;
  std::string name_;
  std::string pattern_;
  // Shared so that the matcher stays copyable; RE2 is thread-safe for
  // matching through a const reference.
  std::shared_ptr<const re2::RE2> regex_;
};

// Processes that must never be signalled. Immutable, thread-safe.
class ProtectedSet {
 public:
  // pid 1 and comm "sshd" are always protected in addition to the given
  // pids; `entries` are policy protected_processes entries (a comm /
  // executable name, or "cmdline:<substring>").
  ProtectedSet(pid_t agent, std::vector<pid_t> ancestors, std::vector<pid_t> extra,
               std::vector<std::string> entries = {});

  // The running agent: getpid(), AncestorsOf(getpid()) and `extra`
  // (FaultContext::protected_pids). Reads /proc; never fails (an unreadable
  // ancestor chain just ends early).
  static ProtectedSet ForThisAgent(const std::vector<int>& extra);
  // ForThisAgent(context.protected_pids) plus context.agent_ancestors and
  // context.protected_processes.
  static ProtectedSet ForContext(const FaultContext& context);

  // Why `process` must not be signalled ("init", "ssh daemon", "the agent
  // itself", "an ancestor of the agent", "listed in protected_pids", "kernel
  // thread", "listed in policy protected_processes (<entry>)"), or nullopt
  // when it may be. A name entry matches comm, a comm the kernel truncated
  // to 15 bytes, or the basename of argv[0]. Pure.
  std::optional<std::string> ReasonFor(const ProcessInfo& process) const;

  // OK, or the PermissionDenied for a fault of `kind` targeting `process`:
  // "<kind>: policy protected_processes: pid N (comm) is always protected
  // (<reason>)" or "<kind>: policy protected_processes (<entry>) refuses pid
  // N (comm)". Pure.
  absl::Status Check(absl::string_view kind, const ProcessInfo& process) const;

 private:
  struct Why {
    std::string reason;
    std::string entry;  // the policy entry, "" for the always protected
  };
  std::optional<Why> WhyProtected(const ProcessInfo& process) const;

  pid_t agent_;
  std::vector<pid_t> ancestors_;  // sorted
  std::vector<pid_t> extra_;      // sorted
  std::vector<std::string> entries_;
};

struct ResolveOptions {
  // process.pause: leave processes that are already stopped (T) or traced
  // (t) alone, so Revert never resumes a process someone else stopped.
  bool skip_stopped = false;
  // A name / cmdline match on a protected process (kernel threads aside)
  // fails the resolution with PermissionDenied; false lists it in
  // protected_skipped instead (process.kill repeat rounds).
  bool refuse_protected = true;
};

// The result of one scan.
struct Resolution {
  std::vector<ProcessInfo> matches;       // eligible, ordered oldest first
  std::vector<pid_t> protected_skipped;   // matched but protected and not refused
  std::vector<pid_t> stopped_skipped;     // matched but already stopped
  std::vector<pid_t> zombies_skipped;     // matched but exited
};

// Filters `processes` (any order) through `matcher` and `protection`. Pure.
// PermissionDenied (ProtectedSet::Check's message) when the pid selector
// names a protected pid, or when refuse_protected and a name / cmdline
// matches a protected process other than a kernel thread (the lowest such
// pid is named, with "; N more protected matches (pids ...)");
// FailedPrecondition when skip_stopped and the named pid is already stopped;
// a missing pid is an empty result.
absl::StatusOr<Resolution> FilterTargets(const std::vector<ProcessInfo>& processes,
                                         const ProcessMatcher& matcher,
                                         const ProtectedSet& protection,
                                         const ResolveOptions& options = {});

// ListProcesses() + FilterTargets(). Errors as FilterTargets, plus whatever
// listing /proc returns. An empty match list is not an error here (repeat
// rounds of process.kill expect it); use NoMatchError for the first scan.
absl::StatusOr<Resolution> ResolveTargets(const ProcessMatcher& matcher,
                                          const ProtectedSet& protection,
                                          const ResolveOptions& options = {});

// The NotFound status for a resolution without matches, e.g.
// `process.kill: no process matches name "foo" (skipped 1 protected: pid 1)`.
absl::Status NoMatchError(const ProcessMatcher& matcher, const Resolution& resolution);

// Checks the count / percent pair of a process fault. InvalidArgument:
// both set ("process.pause: count and percent are mutually exclusive") or
// percent outside (0, 100] ("process.kill: percent must be in (0, 100], got
// 120"); 0 means unset for both. Pure.
absl::Status ValidateSelection(absl::string_view kind, uint32_t count, double percent);

// How many of `matches` processes are selected: min(count, matches) for a
// count, ceil(percent% of matches) but at least 1 for a percent, all when
// neither is set; 0 only when there are no matches. Pure.
size_t SelectionSize(size_t matches, uint32_t count, double percent);

// The first SelectionSize() processes by (start_time, pid) ascending. Pure.
std::vector<ProcessInfo> SelectOldest(std::vector<ProcessInfo> matches, uint32_t count,
                                      double percent);

// For Fault::target(): "pids 812,813 (name=worker)"; only the selector when
// `pids` is empty; long lists end in ",... (+N more)".
std::string DescribeTargets(const std::vector<pid_t>& pids, const ProcessMatcher& matcher);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_PROCESS_TARGET_H_
