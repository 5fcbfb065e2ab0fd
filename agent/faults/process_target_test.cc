// Unit tests for process_target.h on synthetic process lists (no host access
// beyond reading this test's own ancestry).
#include "agent/faults/process_target.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "agent/faults/fault_factory.h"
#include "agent/faults/process_kill.h"
#include "agent/faults/process_pause.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::ProcessTarget ByPid(int pid) {
  v1::ProcessTarget t;
  t.set_pid(pid);
  return t;
}
v1::ProcessTarget ByName(const std::string& name) {
  v1::ProcessTarget t;
  t.set_name(name);
  return t;
}
v1::ProcessTarget ByCmdline(const std::string& re) {
  v1::ProcessTarget t;
  t.set_cmdline(re);
  return t;
}

ProcessMatcher MustMatcher(const v1::ProcessTarget& t, absl::string_view kind = "process.kill") {
  absl::StatusOr<ProcessMatcher> m = ProcessMatcher::Create(kind, t);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

ProcessInfo Proc(pid_t pid, const std::string& comm, uint64_t start, char state = 'S',
                 const std::string& cmdline = "") {
  ProcessInfo p;
  p.pid = pid;
  p.ppid = 1;
  p.comm = comm;
  p.start_time = start;
  p.state = state;
  p.cmdline = cmdline.empty() ? "/usr/bin/" + comm : cmdline;
  return p;
}

std::vector<pid_t> Pids(const std::vector<ProcessInfo>& ps) {
  std::vector<pid_t> out;
  for (const ProcessInfo& p : ps) out.push_back(p.pid);
  return out;
}

// Agent 100, ancestors 100 -> 50 -> 1, extra protected 77.
ProtectedSet TestProtection() { return ProtectedSet(100, {100, 50, 1}, {77}); }

TEST(ProcessMatcherTest, RejectsMissingSelector) {
  absl::StatusOr<ProcessMatcher> m = ProcessMatcher::Create("process.kill", v1::ProcessTarget());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m.status().message(), "process.kill: exactly one of pid, name, cmdline must be set");
}

TEST(ProcessMatcherTest, RejectsBadFields) {
  EXPECT_EQ(ProcessMatcher::Create("process.kill", ByPid(0)).status().message(),
            "process.kill: pid must be positive, got 0");
  EXPECT_EQ(ProcessMatcher::Create("process.kill", ByPid(-3)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ProcessMatcher::Create("process.pause", ByName("")).status().message(),
            "process.pause: name must not be empty");
  absl::Status too_long = ProcessMatcher::Create("process.kill", ByName("a-very-long-name-x")).status();
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_long.message(), HasSubstr("name must be at most 15 bytes"));
  EXPECT_THAT(too_long.message(), HasSubstr("\"a-very-long-name-x\""));
  EXPECT_EQ(ProcessMatcher::Create("process.kill", ByCmdline("")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ProcessMatcherTest, RejectsInvalidRegex) {
  absl::Status s = ProcessMatcher::Create("process.kill", ByCmdline("worker[")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "process.kill: cmdline is not a valid RE2 regex, got \"worker[\": missing ]: [");
  EXPECT_EQ(ProcessMatcher::Create("process.kill", ByCmdline("(a")).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Under the length cap, but its program does not fit kCmdlineRegexMaxMem.
  std::string big;
  for (int i = 0; i < 10; ++i) big += "(?:abcdefgh|bcdefghi|cdefghij|defghijk){1000}";
  ASSERT_LE(big.size(), kMaxCmdlinePatternLength);
  absl::Status huge = ProcessMatcher::Create("process.kill", ByCmdline(big)).status();
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(huge.message(), HasSubstr("pattern too large"));
}

// RE2 has no backtracking features; the error says so instead of leaving the
// user to guess why a pattern that works in Perl is refused.
TEST(ProcessMatcherTest, RejectsLookaroundAndBackreferencesClearly) {
  absl::Status ahead = ProcessMatcher::Create("process.pause", ByCmdline("worker(?=x)")).status();
  EXPECT_EQ(ahead.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ahead.message(),
            "process.pause: cmdline is not a valid RE2 regex, got \"worker(?=x)\": invalid perl "
            "operator: (?=; RE2 has no lookahead or lookbehind");
  for (const char* pattern : {"(?!x)", "(?<=x)y", "(?<!x)y"}) {
    absl::Status s = ProcessMatcher::Create("process.kill", ByCmdline(pattern)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << pattern;
    EXPECT_THAT(s.message(), HasSubstr("RE2 has no lookahead or lookbehind")) << pattern;
  }
  absl::Status backref = ProcessMatcher::Create("process.kill", ByCmdline("(a)\\1")).status();
  EXPECT_EQ(backref.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backref.message(),
            "process.kill: cmdline is not a valid RE2 regex, got \"(a)\\1\": invalid escape "
            "sequence: \\1; RE2 has no backreferences");
  // The agent never trusts the controller: MakeFault refuses it too.
  v1::FaultSpec spec;
  *spec.mutable_process_kill()->mutable_target() = ByCmdline("(?=x)");
  absl::StatusOr<std::unique_ptr<Fault>> fault = MakeFault(spec, FaultContext());
  EXPECT_EQ(fault.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(fault.status().message(), HasSubstr("invalid perl operator: (?="));
}

// The syntax people use for process selectors keeps working under RE2.
TEST(ProcessMatcherTest, CommonSyntaxStillWorks) {
  const std::string cmd = "/usr/bin/python3 -m worker.main --id=42 --Queue=orders";
  for (const char* pattern : {"worker\\.main", "--id=\\d+\\b", "(?i)--queue=ORDERS$",
                              "^/usr/bin/python[0-9.]* ", "\\s--id=(41|42)\\s", "[[:digit:]]{2}",
                              "(?:worker|server)\\.main"}) {
    EXPECT_TRUE(MustMatcher(ByCmdline(pattern)).Matches(Proc(1, "python3", 1, 'S', cmd))) << pattern;
  }
  EXPECT_FALSE(MustMatcher(ByCmdline("^-m")).Matches(Proc(1, "python3", 1, 'S', cmd)));
  // Byte-wise: argv need not be valid UTF-8, and `.` spans any byte.
  const std::string latin = std::string("/opt/caf\xe9 --x \xff\xfe end");
  EXPECT_TRUE(MustMatcher(ByCmdline("caf. --x .* end$")).Matches(Proc(1, "x", 1, 'S', latin)));
  EXPECT_TRUE(MustMatcher(ByCmdline("na\xc3\xafve")).Matches(
      Proc(1, "x", 1, 'S', "/bin/na\xc3\xafve --flag")));
}

TEST(ProcessMatcherTest, NameIsExactCommMatch) {
  ProcessMatcher m = MustMatcher(ByName("worker"));
  EXPECT_TRUE(m.Matches(Proc(10, "worker", 1)));
  EXPECT_FALSE(m.Matches(Proc(10, "worker2", 1)));
  EXPECT_FALSE(m.Matches(Proc(10, "Worker", 1)));
  EXPECT_FALSE(m.Matches(Proc(10, "wor", 1)));
  EXPECT_EQ(m.Describe(), "name \"worker\"");
  EXPECT_EQ(m.Selector(), "name=worker");
  EXPECT_FALSE(m.pid().has_value());
  EXPECT_TRUE(MustMatcher(ByName("123456789012345")).Matches(Proc(1, "123456789012345", 1)));
}

TEST(ProcessMatcherTest, CmdlineIsSearchedNotAnchored) {
  ProcessMatcher m = MustMatcher(ByCmdline("--id=[0-9]+"));
  EXPECT_TRUE(m.Matches(Proc(10, "w", 1, 'S', "/opt/worker --id=42 --verbose")));
  EXPECT_FALSE(m.Matches(Proc(10, "w", 1, 'S', "/opt/worker --id=x")));
  EXPECT_TRUE(MustMatcher(ByCmdline("^/opt/worker ")).Matches(Proc(1, "w", 1, 'S', "/opt/worker a")));
  EXPECT_FALSE(MustMatcher(ByCmdline("^worker")).Matches(Proc(1, "w", 1, 'S', "/opt/worker a")));
  EXPECT_EQ(m.Describe(), "cmdline /--id=[0-9]+/");
  EXPECT_EQ(m.Selector(), "cmdline=--id=[0-9]+");
}

// std::regex recursed per character: `.*x` on a ~20 KB cmdline overflowed
// the stack and `(.*)*x` backtracked for seconds. RE2 is linear, so the whole
// cmdline is searched, `$` means its real end, and both finish at once.
TEST(ProcessMatcherTest, LongCmdlineIsSearchedInFullAndFast) {
  const std::string cmdline = "/opt/java -cp " + std::string(200'000, 'a') + " Main x";
  const ProcessInfo java = Proc(1, "java", 1, 'S', cmdline);
  const std::string no_x = "/opt/java -cp " + std::string(200'000, 'a') + " Main";
  const ProcessInfo java_no_x = Proc(1, "java", 1, 'S', no_x);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(MustMatcher(ByCmdline(".*x")).Matches(java));
  EXPECT_FALSE(MustMatcher(ByCmdline(".*x")).Matches(java_no_x));
  EXPECT_TRUE(MustMatcher(ByCmdline("(.*)*x")).Matches(java));
  EXPECT_FALSE(MustMatcher(ByCmdline("(.*)*x")).Matches(java_no_x));
  EXPECT_FALSE(MustMatcher(ByCmdline("(a|aa)*b")).Matches(java_no_x));
  EXPECT_FALSE(MustMatcher(ByCmdline("(a+a+)+$")).Matches(java_no_x));
  EXPECT_TRUE(MustMatcher(ByCmdline(" Main x$")).Matches(java));
  EXPECT_TRUE(MustMatcher(ByCmdline("^/opt/java -cp a+ Main")).Matches(java));
  EXPECT_FALSE(MustMatcher(ByCmdline("a$")).Matches(java));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Generous for slow CI; the old matcher crashed or took seconds here.
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_EQ(ProcessMatcher::Create("process.kill", ByCmdline(std::string(513, 'x'))).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ProcessMatcher::Create("process.kill", ByCmdline(std::string(512, 'x'))).ok());
}

TEST(ProcessMatcherTest, PidMatchesOnlyThatPid) {
  ProcessMatcher m = MustMatcher(ByPid(812));
  EXPECT_TRUE(m.Matches(Proc(812, "x", 1)));
  EXPECT_FALSE(m.Matches(Proc(813, "x", 1)));
  EXPECT_EQ(m.pid(), 812);
  EXPECT_EQ(m.Describe(), "pid 812");
  EXPECT_EQ(m.Selector(), "pid=812");
}

TEST(ProtectedSetTest, Reasons) {
  ProtectedSet p = TestProtection();
  EXPECT_EQ(p.ReasonFor(Proc(1, "init", 1)), "init");
  EXPECT_EQ(p.ReasonFor(Proc(100, "agent", 1)), "the agent itself");
  EXPECT_EQ(p.ReasonFor(Proc(50, "shell", 1)), "an ancestor of the agent");
  EXPECT_EQ(p.ReasonFor(Proc(77, "db", 1)), "listed in protected_pids");
  ProcessInfo kthread = Proc(2, "kthreadd", 1);
  kthread.kernel_thread = true;
  EXPECT_EQ(p.ReasonFor(kthread), "kernel thread");
  EXPECT_EQ(p.ReasonFor(Proc(200, "worker", 1)), std::nullopt);
  EXPECT_EQ(p.ReasonFor(Proc(812, "sshd", 1)), "ssh daemon");
}

TEST(ProtectedSetTest, PolicyEntriesMatchCommExeNameAndCmdline) {
  ProtectedSet p(100, {1}, {},
                 {"postgres", "averyveryverylongname", "cmdline:--role=primary"});
  EXPECT_EQ(p.ReasonFor(Proc(300, "postgres", 1)),
            "listed in policy protected_processes (postgres)");
  // argv[0]'s basename (e.g. a process that renamed its comm).
  EXPECT_EQ(p.ReasonFor(Proc(301, "pg-worker", 1, 'S', "/usr/lib/bin/postgres -D /data")),
            "listed in policy protected_processes (postgres)");
  // The kernel keeps 15 bytes of comm.
  EXPECT_EQ(p.ReasonFor(Proc(302, "averyveryverylo", 1, 'S', "x")),
            "listed in policy protected_processes (averyveryverylongname)");
  EXPECT_EQ(p.ReasonFor(Proc(303, "app", 1, 'S', "app --role=primary --port 1")),
            "listed in policy protected_processes (cmdline:--role=primary)");
  EXPECT_EQ(p.ReasonFor(Proc(304, "app", 1, 'S', "app --role=replica")), std::nullopt);
  EXPECT_EQ(p.ReasonFor(Proc(305, "postgres2", 1)), std::nullopt);
  EXPECT_EQ(p.Check("process.pause", Proc(300, "postgres", 1)).message(),
            "process.pause: policy protected_processes (postgres) refuses pid 300 (postgres)");
  EXPECT_EQ(p.Check("process.kill", Proc(812, "sshd", 1)).message(),
            "process.kill: policy protected_processes: pid 812 (sshd) is always protected "
            "(ssh daemon)");
  EXPECT_TRUE(p.Check("process.kill", Proc(304, "app", 1, 'S', "app")).ok());
}

TEST(ProtectedSetTest, ForThisAgentCoversSelfAndAncestors) {
  ProtectedSet p = ProtectedSet::ForThisAgent({4242});
  EXPECT_EQ(p.ReasonFor(Proc(getpid(), "me", 1)), "the agent itself");
  EXPECT_EQ(p.ReasonFor(Proc(getppid(), "parent", 1)), "an ancestor of the agent");
  EXPECT_EQ(p.ReasonFor(Proc(1, "init", 1)), "init");
  EXPECT_EQ(p.ReasonFor(Proc(4242, "x", 1)), "listed in protected_pids");
}

TEST(FilterTargetsTest, NameMatchesAreOrderedOldestFirst) {
  std::vector<ProcessInfo> ps = {Proc(30, "worker", 500), Proc(20, "worker", 100),
                                 Proc(40, "other", 50), Proc(10, "worker", 500),
                                 Proc(25, "worker", 300)};
  absl::StatusOr<Resolution> r = FilterTargets(ps, MustMatcher(ByName("worker")), TestProtection());
  ASSERT_TRUE(r.ok()) << r.status();
  // start_time ascending, then pid: 500/10 before 500/30.
  EXPECT_THAT(Pids(r->matches), ElementsAre(20, 25, 10, 30));
}

TEST(FilterTargetsTest, SkipsProtectedKernelThreadsAndZombies) {
  ProcessInfo kthread = Proc(3, "worker", 1);
  kthread.kernel_thread = true;
  std::vector<ProcessInfo> ps = {Proc(1, "worker", 1),     Proc(100, "worker", 2),
                                 Proc(50, "worker", 3),    Proc(77, "worker", 4),
                                 kthread,                  Proc(90, "worker", 5, 'Z'),
                                 Proc(91, "worker", 6, 'T'), Proc(92, "worker", 7)};
  absl::StatusOr<Resolution> r = FilterTargets(ps, MustMatcher(ByName("worker")), TestProtection(),
                                               {.skip_stopped = false, .refuse_protected = false});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Pids(r->matches), ElementsAre(91, 92));  // kill may hit stopped ones
  EXPECT_THAT(r->protected_skipped, ElementsAre(1, 3, 50, 77, 100));
  EXPECT_THAT(r->zombies_skipped, ElementsAre(90));
  EXPECT_TRUE(r->stopped_skipped.empty());

  // By default a protected match refuses the whole fault (kernel threads are
  // only skipped).
  absl::Status s = FilterTargets(ps, MustMatcher(ByName("worker")), TestProtection()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "process.kill: policy protected_processes: pid 1 (worker) is always protected (init); "
            "3 more protected matches (pids 50,77,100)");
  std::vector<ProcessInfo> only_kthread = {kthread, Proc(92, "worker", 7)};
  r = FilterTargets(only_kthread, MustMatcher(ByName("worker")), TestProtection());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->protected_skipped, ElementsAre(3));
}

TEST(FilterTargetsTest, SkipStoppedLeavesStoppedAndTracedAlone) {
  std::vector<ProcessInfo> ps = {Proc(91, "worker", 6, 'T'), Proc(93, "worker", 6, 't'),
                                 Proc(92, "worker", 7, 'R')};
  absl::StatusOr<Resolution> r = FilterTargets(ps, MustMatcher(ByName("worker")), TestProtection(),
                                               {.skip_stopped = true, .refuse_protected = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Pids(r->matches), ElementsAre(92));
  EXPECT_THAT(r->stopped_skipped, ElementsAre(91, 93));
}

TEST(FilterTargetsTest, ExplicitProtectedPidIsPermissionDenied) {
  std::vector<ProcessInfo> ps = {Proc(1, "init", 1), Proc(100, "agent", 2), Proc(50, "sh", 3),
                                 Proc(77, "db", 4)};
  ProcessInfo kthread = Proc(2, "kthreadd", 1);
  kthread.kernel_thread = true;
  ps.push_back(kthread);
  auto code_and_message = [&](int pid) {
    absl::Status s = FilterTargets(ps, MustMatcher(ByPid(pid)), TestProtection()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << pid;
    return std::string(s.message());
  };
  const std::string prefix = "process.kill: policy protected_processes: ";
  EXPECT_EQ(code_and_message(1), prefix + "pid 1 (init) is always protected (init)");
  EXPECT_EQ(code_and_message(100), prefix + "pid 100 (agent) is always protected (the agent itself)");
  EXPECT_EQ(code_and_message(50),
            prefix + "pid 50 (sh) is always protected (an ancestor of the agent)");
  EXPECT_EQ(code_and_message(77),
            prefix + "pid 77 (db) is always protected (listed in protected_pids)");
  EXPECT_EQ(code_and_message(2), prefix + "pid 2 (kthreadd) is always protected (kernel thread)");
}

TEST(FilterTargetsTest, ExplicitStoppedPidForPauseIsFailedPrecondition) {
  std::vector<ProcessInfo> ps = {Proc(91, "worker", 6, 'T')};
  absl::Status s = FilterTargets(ps, MustMatcher(ByPid(91), "process.pause"), TestProtection(),
                                 {.skip_stopped = true, .refuse_protected = true})
                       .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("process.pause: pid 91 is already stopped"));
}

TEST(FilterTargetsTest, MissingPidIsEmptyAndNoMatchErrorSaysSo) {
  ProcessMatcher m = MustMatcher(ByPid(4000));
  absl::StatusOr<Resolution> r = FilterTargets({Proc(10, "x", 1)}, m, TestProtection());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->matches.empty());
  absl::Status s = NoMatchError(m, *r);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "process.kill: no process matches pid 4000");
}

TEST(FilterTargetsTest, NoMatchErrorMentionsSkippedProtectedMatches) {
  ProcessMatcher m = MustMatcher(ByName("foo"));
  absl::StatusOr<Resolution> r = FilterTargets({}, m, TestProtection());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(NoMatchError(m, *r).message(), "process.kill: no process matches name \"foo\"");

  r = FilterTargets({Proc(1, "foo", 1), Proc(77, "foo", 2), Proc(5, "foo", 3, 'Z')}, m,
                    TestProtection(), {.skip_stopped = false, .refuse_protected = false});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->matches.empty());
  absl::Status s = NoMatchError(m, *r);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(),
            "process.kill: no process matches name \"foo\"; skipped matches: 2 protected "
            "(pids 1,77), 1 exited (pids 5)");
}

TEST(SelectionTest, ValidateSelection) {
  EXPECT_TRUE(ValidateSelection("process.kill", 0, 0).ok());
  EXPECT_TRUE(ValidateSelection("process.kill", 3, 0).ok());
  EXPECT_TRUE(ValidateSelection("process.kill", 0, 100).ok());
  EXPECT_TRUE(ValidateSelection("process.kill", 0, 0.5).ok());
  EXPECT_EQ(ValidateSelection("process.pause", 2, 50).message(),
            "process.pause: count and percent are mutually exclusive");
  EXPECT_EQ(ValidateSelection("process.kill", 0, 120).message(),
            "process.kill: percent must be in (0, 100], got 120");
  EXPECT_EQ(ValidateSelection("process.kill", 0, -5).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSelection("process.kill", 0, std::nan("")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ValidateSelection("process.kill", 0, std::numeric_limits<double>::infinity()).code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(SelectionTest, SelectionSize) {
  EXPECT_EQ(SelectionSize(0, 0, 0), 0u);
  EXPECT_EQ(SelectionSize(0, 3, 0), 0u);
  EXPECT_EQ(SelectionSize(0, 0, 50), 0u);
  EXPECT_EQ(SelectionSize(5, 0, 0), 5u);   // neither = all
  EXPECT_EQ(SelectionSize(5, 2, 0), 2u);
  EXPECT_EQ(SelectionSize(5, 9, 0), 5u);   // count beyond matches = all
  EXPECT_EQ(SelectionSize(3, 0, 50), 2u);  // 1.5 rounds up
  EXPECT_EQ(SelectionSize(10, 0, 30), 3u); // exact, despite 0.3 in binary
  EXPECT_EQ(SelectionSize(10, 0, 70), 7u);
  EXPECT_EQ(SelectionSize(10, 0, 31), 4u);
  EXPECT_EQ(SelectionSize(3, 0, 1), 1u);   // at least one
  EXPECT_EQ(SelectionSize(1000, 0, 0.01), 1u);
  EXPECT_EQ(SelectionSize(4, 0, 100), 4u);
}

TEST(SelectionTest, SelectOldestTakesLowestStartTimeThenPid) {
  std::vector<ProcessInfo> ps = {Proc(9, "w", 30), Proc(3, "w", 10), Proc(8, "w", 10),
                                 Proc(1, "w", 20)};
  EXPECT_THAT(Pids(SelectOldest(ps, 1, 0)), ElementsAre(3));
  EXPECT_THAT(Pids(SelectOldest(ps, 2, 0)), ElementsAre(3, 8));
  EXPECT_THAT(Pids(SelectOldest(ps, 0, 50)), ElementsAre(3, 8));
  EXPECT_THAT(Pids(SelectOldest(ps, 0, 0)), ElementsAre(3, 8, 1, 9));
}

TEST(DescribeTargetsTest, Formats) {
  ProcessMatcher m = MustMatcher(ByName("worker"));
  EXPECT_EQ(DescribeTargets({}, m), "name=worker");
  EXPECT_EQ(DescribeTargets({812, 813}, m), "pids 812,813 (name=worker)");
  std::vector<pid_t> many;
  for (int i = 1; i <= 20; ++i) many.push_back(i);
  EXPECT_EQ(DescribeTargets(many, m),
            "pids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,... (+4 more) (name=worker)");
}

// Spec validation of both process kinds (pure, so it lives with the unit
// tests rather than in the privileged fault tests).
TEST(ProcessFaultValidationTest, Kill) {
  auto message = [](const v1::ProcessKill& spec) {
    absl::Status s = ValidateProcessKill(spec);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    return std::string(s.message());
  };
  v1::ProcessKill spec;
  EXPECT_EQ(message(spec), "process.kill: exactly one of pid, name, cmdline must be set");
  *spec.mutable_target() = ByName("worker");
  EXPECT_TRUE(ValidateProcessKill(spec).ok());

  spec.set_signal(65);
  EXPECT_EQ(message(spec), "process.kill: signal must be in 1..64 (0 = SIGKILL), got 65");
  spec.set_signal(-1);
  EXPECT_EQ(message(spec), "process.kill: signal must be in 1..64 (0 = SIGKILL), got -1");
  spec.set_signal(SIGSTOP);
  EXPECT_THAT(message(spec), HasSubstr("(SIGSTOP) would leave processes stopped"));
  spec.set_signal(SIGTSTP);
  EXPECT_THAT(message(spec), HasSubstr("use process.pause"));
  for (int sig : {0, 1, SIGTERM, SIGKILL, SIGCONT, 64}) {
    spec.set_signal(sig);
    EXPECT_TRUE(ValidateProcessKill(spec).ok()) << sig;
  }

  spec.set_interval_ms(50);
  EXPECT_EQ(message(spec), "process.kill: interval_ms must be 0 or in 100..86400000, got 50");
  spec.set_interval_ms(86'400'001);
  EXPECT_THAT(message(spec), HasSubstr("interval_ms"));
  spec.set_interval_ms(100);
  EXPECT_TRUE(ValidateProcessKill(spec).ok());

  spec.set_percent(120);
  EXPECT_EQ(message(spec), "process.kill: percent must be in (0, 100], got 120");
  spec.set_percent(50);
  spec.set_count(2);
  EXPECT_EQ(message(spec), "process.kill: count and percent are mutually exclusive");
  spec.set_percent(0);
  EXPECT_TRUE(ValidateProcessKill(spec).ok());

  *spec.mutable_target() = ByCmdline("([a-z]");
  EXPECT_THAT(message(spec), HasSubstr("process.kill: cmdline is not a valid RE2 regex"));
  EXPECT_EQ(MakeProcessKillFault(spec, FaultContext()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ProcessFaultValidationTest, Pause) {
  v1::ProcessPause spec;
  EXPECT_EQ(ValidateProcessPause(spec).message(),
            "process.pause: exactly one of pid, name, cmdline must be set");
  *spec.mutable_target() = ByPid(0);
  EXPECT_EQ(ValidateProcessPause(spec).message(), "process.pause: pid must be positive, got 0");
  *spec.mutable_target() = ByName("worker");
  EXPECT_TRUE(ValidateProcessPause(spec).ok());
  spec.set_count(1);
  spec.set_percent(10);
  EXPECT_EQ(ValidateProcessPause(spec).message(),
            "process.pause: count and percent are mutually exclusive");
  EXPECT_EQ(MakeProcessPauseFault(spec, FaultContext()).status().code(),
            absl::StatusCode::kInvalidArgument);
  spec.set_count(0);
  spec.set_percent(100.5);
  EXPECT_EQ(ValidateProcessPause(spec).message(),
            "process.pause: percent must be in (0, 100], got 100.5");
}

TEST(ProcessFaultValidationTest, FactoryDispatchesBothKinds) {
  v1::FaultSpec spec;
  *spec.mutable_process_pause()->mutable_target() = ByName("worker");
  EXPECT_TRUE(ValidateSpec(spec).ok());
  absl::StatusOr<std::unique_ptr<Fault>> pause = MakeFault(spec, FaultContext());
  ASSERT_TRUE(pause.ok()) << pause.status();
  EXPECT_EQ((*pause)->kind(), "process.pause");
  EXPECT_TRUE((*pause)->reversible());
  EXPECT_EQ((*pause)->target(), "name=worker");
  EXPECT_EQ((*pause)->revert_state().processes_size(), 0);
  // Construction has no side effects, so reverting a fresh fault is a no-op.
  EXPECT_TRUE((*pause)->Revert().ok());

  *spec.mutable_process_kill()->mutable_target() = ByCmdline("worker --id=7");
  absl::StatusOr<std::unique_ptr<Fault>> kill = MakeFault(spec, FaultContext());
  ASSERT_TRUE(kill.ok()) << kill.status();
  EXPECT_EQ((*kill)->kind(), "process.kill");
  EXPECT_FALSE((*kill)->reversible());
  EXPECT_EQ((*kill)->target(), "cmdline=worker --id=7");
  EXPECT_TRUE((*kill)->Revert().ok());
}

}  // namespace
}  // namespace faultline::agent
