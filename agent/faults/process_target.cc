#include "agent/faults/process_target.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "re2/re2.h"

namespace faultline::agent {
namespace {

bool IsExitedState(char state) { return state == 'Z' || state == 'X' || state == 'x'; }

bool Oldest(const ProcessInfo& a, const ProcessInfo& b) {
  return std::pair(a.start_time, a.pid) < std::pair(b.start_time, b.pid);
}

std::string PidList(const std::vector<pid_t>& pids, size_t limit) {
  std::string out;
  size_t shown = std::min(pids.size(), limit);
  for (size_t i = 0; i < shown; ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", pids[i]);
  }
  if (pids.size() > shown) absl::StrAppend(&out, ",... (+", pids.size() - shown, " more)");
  return out;
}

// RE2's reason, plus a hint for the Perl/ECMAScript features RE2 leaves out
// on purpose (they need backtracking), since those are the likely surprise.
std::string RegexErrorText(const RE2& regex) {
  std::string text = regex.error();
  const std::string& arg = regex.error_arg();
  if (regex.error_code() == RE2::ErrorBadPerlOp &&
      (arg == "(?=" || arg == "(?!" || arg == "(?<")) {
    absl::StrAppend(&text, "; RE2 has no lookahead or lookbehind");
  } else if (regex.error_code() == RE2::ErrorBadEscape && arg.size() == 2 && arg[1] >= '1' &&
             arg[1] <= '9') {
    absl::StrAppend(&text, "; RE2 has no backreferences");
  }
  return text;
}

}  // namespace

bool IsStoppedState(char state) { return state == 'T' || state == 't'; }

absl::StatusOr<ProcessMatcher> ProcessMatcher::Create(absl::string_view kind,
                                                      const v1::ProcessTarget& target) {
  ProcessMatcher matcher;
  matcher.kind_ = std::string(kind);
  switch (target.selector_case()) {
    case v1::ProcessTarget::kPid:
      if (target.pid() <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(kind, ": pid must be positive, got ", target.pid()));
      }
      matcher.pid_ = target.pid();
      return matcher;
    case v1::ProcessTarget::kName:
      if (target.name().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(kind, ": name must not be empty"));
      }
      // A longer name could never equal comm: reject it instead of matching
      // nothing forever.
      if (target.name().size() > kMaxCommLength) {
        return absl::InvalidArgumentError(absl::StrCat(
            kind, ": name must be at most ", kMaxCommLength,
            " bytes (the kernel truncates comm), got \"", target.name(), "\" (",
            target.name().size(), " bytes)"));
      }
      matcher.name_ = target.name();
      return matcher;
    case v1::ProcessTarget::kCmdline:
      if (target.cmdline().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(kind, ": cmdline must not be empty"));
      }
      if (target.cmdline().size() > kMaxCmdlinePatternLength) {
        return absl::InvalidArgumentError(
            absl::StrCat(kind, ": cmdline regex must be at most ", kMaxCmdlinePatternLength,
                         " bytes, got ", target.cmdline().size()));
      }
      {
        // Latin-1 makes matching byte-wise (argv need not be UTF-8, and a
        // UTF-8 literal still matches its own bytes); never_capture because
        // only "found or not" is asked. The controller compiles with the
        // same options (controller/spec/fault_params.cc) so both sides
        // accept the same patterns.
        RE2::Options options;
        options.set_encoding(RE2::Options::EncodingLatin1);
        options.set_never_capture(true);
        options.set_log_errors(false);
        options.set_max_mem(kCmdlineRegexMaxMem);
        auto regex = std::make_shared<const RE2>(target.cmdline(), options);
        if (!regex->ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat(kind, ": cmdline is not a valid RE2 regex, got \"", target.cmdline(),
                           "\": ", RegexErrorText(*regex)));
        }
        matcher.regex_ = std::move(regex);
      }
      matcher.pattern_ = target.cmdline();
      return matcher;
    case v1::ProcessTarget::SELECTOR_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(kind, ": exactly one of pid, name, cmdline must be set"));
}

bool ProcessMatcher::Matches(const ProcessInfo& process) const {
  if (pid_.has_value()) return process.pid == *pid_;
  if (regex_ != nullptr) return RE2::PartialMatch(process.cmdline, *regex_);
  return process.comm == name_;
}

std::string ProcessMatcher::Describe() const {
  if (pid_.has_value()) return absl::StrCat("pid ", *pid_);
  if (regex_ != nullptr) return absl::StrCat("cmdline /", pattern_, "/");
  return absl::StrCat("name \"", name_, "\"");
}

std::string ProcessMatcher::Selector() const {
  if (pid_.has_value()) return absl::StrCat("pid=", *pid_);
  if (regex_ != nullptr) return absl::StrCat("cmdline=", pattern_);
  return absl::StrCat("name=", name_);
}

ProtectedSet::ProtectedSet(pid_t agent, std::vector<pid_t> ancestors, std::vector<pid_t> extra,
                           std::vector<std::string> entries)
    : agent_(agent),
      ancestors_(std::move(ancestors)),
      extra_(std::move(extra)),
      entries_(std::move(entries)) {
  std::sort(ancestors_.begin(), ancestors_.end());
  std::sort(extra_.begin(), extra_.end());
}

ProtectedSet ProtectedSet::ForThisAgent(const std::vector<int>& extra) {
  pid_t self = getpid();
  return ProtectedSet(self, AncestorsOf(self), std::vector<pid_t>(extra.begin(), extra.end()));
}

ProtectedSet ProtectedSet::ForContext(const FaultContext& context) {
  pid_t self = getpid();
  std::vector<pid_t> ancestors = AncestorsOf(self);
  ancestors.insert(ancestors.end(), context.agent_ancestors.begin(),
                   context.agent_ancestors.end());
  return ProtectedSet(
      self, std::move(ancestors),
      std::vector<pid_t>(context.protected_pids.begin(), context.protected_pids.end()),
      context.protected_processes);
}

namespace {

constexpr absl::string_view kCmdlineEntry = "cmdline:";

// Basename of argv[0] (the cmdline up to the first space).
absl::string_view Argv0Name(absl::string_view cmdline) {
  absl::string_view argv0 = cmdline.substr(0, cmdline.find(' '));
  size_t slash = argv0.rfind('/');
  return slash == absl::string_view::npos ? argv0 : argv0.substr(slash + 1);
}

bool EntryMatches(const std::string& entry, const ProcessInfo& process) {
  if (absl::StartsWith(entry, kCmdlineEntry)) {
    absl::string_view needle = absl::string_view(entry).substr(kCmdlineEntry.size());
    return !needle.empty() && absl::StrContains(process.cmdline, needle);
  }
  if (process.comm == entry) return true;
  if (entry.size() > kMaxCommLength && !process.comm.empty() &&
      process.comm == absl::string_view(entry).substr(0, kMaxCommLength)) {
    return true;
  }
  return !process.kernel_thread && !process.cmdline.empty() && Argv0Name(process.cmdline) == entry;
}

std::string PidAndComm(const ProcessInfo& process) {
  if (process.comm.empty()) return absl::StrCat("pid ", process.pid);
  return absl::StrCat("pid ", process.pid, " (", process.comm, ")");
}

}  // namespace

std::optional<ProtectedSet::Why> ProtectedSet::WhyProtected(const ProcessInfo& process) const {
  auto always = [](std::string reason) { return Why{std::move(reason), ""}; };
  if (process.pid == 1) return always("init");
  if (process.pid == agent_) return always("the agent itself");
  if (std::binary_search(ancestors_.begin(), ancestors_.end(), process.pid)) {
    return always("an ancestor of the agent");
  }
  if (std::binary_search(extra_.begin(), extra_.end(), process.pid)) {
    return always("listed in protected_pids");
  }
  if (process.kernel_thread) return always("kernel thread");
  if (process.comm == "sshd") return always("ssh daemon");
  for (const std::string& entry : entries_) {
    if (EntryMatches(entry, process)) {
      return Why{absl::StrCat("listed in policy protected_processes (", entry, ")"), entry};
    }
  }
  return std::nullopt;
}

std::optional<std::string> ProtectedSet::ReasonFor(const ProcessInfo& process) const {
  std::optional<Why> why = WhyProtected(process);
  if (!why.has_value()) return std::nullopt;
  return why->reason;
}

absl::Status ProtectedSet::Check(absl::string_view kind, const ProcessInfo& process) const {
  std::optional<Why> why = WhyProtected(process);
  if (!why.has_value()) return absl::OkStatus();
  if (!why->entry.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(kind, ": policy protected_processes (",
                                                    why->entry, ") refuses ",
                                                    PidAndComm(process)));
  }
  return absl::PermissionDeniedError(absl::StrCat(kind, ": policy protected_processes: ",
                                                  PidAndComm(process),
                                                  " is always protected (", why->reason, ")"));
}

absl::StatusOr<Resolution> FilterTargets(const std::vector<ProcessInfo>& processes,
                                         const ProcessMatcher& matcher,
                                         const ProtectedSet& protection,
                                         const ResolveOptions& options) {
  Resolution out;
  if (matcher.pid().has_value()) {
    // Protection is decided on the pid alone, before existence, so naming
    // init or the agent is always refused the same way.
    ProcessInfo probe;
    probe.pid = *matcher.pid();
    for (const ProcessInfo& p : processes) {
      if (p.pid == probe.pid) probe = p;
    }
    FL_RETURN_IF_ERROR(protection.Check(matcher.kind(), probe));
  }
  std::vector<const ProcessInfo*> refused;
  for (const ProcessInfo& p : processes) {
    if (!matcher.Matches(p)) continue;
    if (protection.ReasonFor(p).has_value()) {
      if (options.refuse_protected && !p.kernel_thread) {
        refused.push_back(&p);
      } else {
        out.protected_skipped.push_back(p.pid);
      }
      continue;
    }
    if (IsExitedState(p.state)) {
      out.zombies_skipped.push_back(p.pid);
      continue;
    }
    if (options.skip_stopped && IsStoppedState(p.state)) {
      if (matcher.pid().has_value()) {
        return absl::FailedPreconditionError(
            absl::StrCat(matcher.kind(), ": pid ", p.pid, " is already stopped (state ",
                         std::string(1, p.state), "); it is not ours to stop or resume"));
      }
      out.stopped_skipped.push_back(p.pid);
      continue;
    }
    out.matches.push_back(p);
  }
  if (!refused.empty()) {
    std::sort(refused.begin(), refused.end(),
              [](const ProcessInfo* a, const ProcessInfo* b) { return a->pid < b->pid; });
    absl::Status first = protection.Check(matcher.kind(), *refused.front());
    if (refused.size() == 1) return first;
    std::vector<pid_t> more;
    for (size_t i = 1; i < refused.size(); ++i) more.push_back(refused[i]->pid);
    return absl::PermissionDeniedError(absl::StrCat(first.message(), "; ", more.size(),
                                                    " more protected matches (pids ",
                                                    PidList(more, 10), ")"));
  }
  std::sort(out.matches.begin(), out.matches.end(), Oldest);
  std::sort(out.protected_skipped.begin(), out.protected_skipped.end());
  std::sort(out.stopped_skipped.begin(), out.stopped_skipped.end());
  std::sort(out.zombies_skipped.begin(), out.zombies_skipped.end());
  return out;
}

absl::StatusOr<Resolution> ResolveTargets(const ProcessMatcher& matcher,
                                          const ProtectedSet& protection,
                                          const ResolveOptions& options) {
  std::vector<ProcessInfo> processes;
  if (std::optional<pid_t> pid = matcher.pid()) {
    // One process, not a /proc scan (the scan was most of a pause's Apply
    // latency). A thread id is "no such process", as in the full listing,
    // which holds only thread-group leaders.
    auto info = ReadProcess(*pid);
    if (info.ok() && IsThreadGroupLeader(*pid)) processes.push_back(*std::move(info));
  } else {
    FL_ASSIGN_OR_RETURN(processes, ListProcesses());
  }
  return FilterTargets(processes, matcher, protection, options);
}

absl::Status NoMatchError(const ProcessMatcher& matcher, const Resolution& resolution) {
  constexpr size_t kShown = 10;
  std::vector<std::string> notes;
  if (!resolution.protected_skipped.empty()) {
    notes.push_back(absl::StrCat(resolution.protected_skipped.size(), " protected (pids ",
                                 PidList(resolution.protected_skipped, kShown), ")"));
  }
  if (!resolution.stopped_skipped.empty()) {
    notes.push_back(absl::StrCat(resolution.stopped_skipped.size(),
                                 " already stopped by someone else (pids ",
                                 PidList(resolution.stopped_skipped, kShown), ")"));
  }
  if (!resolution.zombies_skipped.empty()) {
    notes.push_back(absl::StrCat(resolution.zombies_skipped.size(), " exited (pids ",
                                 PidList(resolution.zombies_skipped, kShown), ")"));
  }
  std::string message = absl::StrCat(matcher.kind(), ": no process matches ", matcher.Describe());
  if (!notes.empty()) {
    absl::StrAppend(&message, "; skipped matches: ", absl::StrJoin(notes, ", "));
  }
  return absl::NotFoundError(message);
}

absl::Status ValidateSelection(absl::string_view kind, uint32_t count, double percent) {
  if (count != 0 && percent != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, ": count and percent are mutually exclusive"));
  }
  // Written so that NaN fails too.
  if (percent != 0 && !(percent > 0 && percent <= 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, ": percent must be in (0, 100], got ", percent));
  }
  return absl::OkStatus();
}

size_t SelectionSize(size_t matches, uint32_t count, double percent) {
  if (matches == 0) return 0;
  if (count != 0) return std::min<size_t>(count, matches);
  if (percent > 0) {
    // The epsilon keeps 30% of 10 at 3 despite binary rounding of 0.3.
    double wanted = std::ceil(percent * static_cast<double>(matches) / 100.0 - 1e-9);
    return std::clamp<size_t>(static_cast<size_t>(std::max(wanted, 1.0)), 1, matches);
  }
  return matches;
}

std::vector<ProcessInfo> SelectOldest(std::vector<ProcessInfo> matches, uint32_t count,
                                      double percent) {
  std::sort(matches.begin(), matches.end(), Oldest);
  matches.resize(SelectionSize(matches.size(), count, percent));
  return matches;
}

std::string DescribeTargets(const std::vector<pid_t>& pids, const ProcessMatcher& matcher) {
  if (pids.empty()) return matcher.Selector();
  return absl::StrCat("pids ", PidList(pids, 16), " (", matcher.Selector(), ")");
}

}  // namespace faultline::agent
