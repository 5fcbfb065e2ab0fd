// cpu.pressure on the real host: the load is measured from /proc (the
// stressor's utime+stime), not read back from the config.
#include "agent/faults/cpu_pressure.h"

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/faults/stressor_testing.h"
#include "agent/host/sysinfo.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using namespace std::chrono_literals;
using testing::ExpectNothingLeft;
using testing::ProcessExists;
using testing::StressorOf;
using testing::TestContext;

v1::CpuPressure Spec(uint32_t load, uint32_t workers, std::vector<uint32_t> cores = {}) {
  v1::CpuPressure spec;
  spec.set_load_pct(load);
  spec.set_workers(workers);
  for (uint32_t c : cores) spec.add_cores(c);
  return spec;
}

testing::MakeFn Maker(const v1::CpuPressure& spec) {
  return [spec](const FaultContext& context) {
    auto fault = MakeCpuPressureFault(spec, context);
    EXPECT_TRUE(fault.ok()) << fault.status();
    return std::move(fault).value();
  };
}

// Achieved load per worker (% of one core) of `pid` over `window`, from
// utime+stime in /proc/PID/stat.
double MeasuredLoadPct(pid_t pid, int workers, std::chrono::milliseconds window) {
  auto before = ReadProcess(pid);
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window);
  auto after = ReadProcess(pid);
  const auto t1 = std::chrono::steady_clock::now();
  if (!before.ok() || !after.ok()) return -1;
  const double cpu_s = static_cast<double>(after->cpu_ticks - before->cpu_ticks) /
                       static_cast<double>(ClockTicksPerSecond());
  return 100.0 * cpu_s / std::chrono::duration<double>(t1 - t0).count() / workers;
}

// --- validation --------------------------------------------------------------

struct ValidationCase {
  v1::CpuPressure spec;
  std::string error;  // "" = valid
};

TEST(CpuPressureValidationTest, Table) {
  const std::vector<ValidationCase> cases = {
      {Spec(50, 1), ""},
      {Spec(1, 0), ""},
      {Spec(100, 1024, {0, 4095}), ""},
      {Spec(0, 1), "cpu.pressure: load_pct must be 1..100, got 0"},
      {Spec(101, 1), "cpu.pressure: load_pct must be 1..100, got 101"},
      {Spec(50, 1025), "cpu.pressure: workers must be 0..1024, got 1025"},
      {Spec(50, 1, {4096}), "cpu.pressure: cores must each be < 4096, got 4096"},
      {Spec(50, 1, {0, 1, 0}), "cpu.pressure: cores lists core 0 twice"},
  };
  for (const ValidationCase& c : cases) {
    SCOPED_TRACE(c.spec.ShortDebugString());
    absl::Status status = ValidateCpuPressure(c.spec);
    if (c.error.empty()) {
      EXPECT_TRUE(status.ok()) << status;
      continue;
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), c.error);
    // The factory rejects the same spec with the same error.
    auto fault = MakeCpuPressureFault(c.spec, TestContext("validation"));
    EXPECT_EQ(fault.status(), status);
    v1::FaultSpec wrapped;
    *wrapped.mutable_cpu_pressure() = c.spec;
    EXPECT_EQ(ValidateSpec(wrapped), status);
  }
}

TEST(CpuPressurePrepareTest, RejectsOfflineCore) {
  auto online = ReadOnlineCpus();
  ASSERT_TRUE(online.ok());
  const uint32_t offline = static_cast<uint32_t>(*online->cpus.rbegin() + 5);
  auto fault = Maker(Spec(50, 1, {0, offline}))(TestContext("offline"));
  absl::Status status = fault->Prepare();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), absl::StrCat("cpu.pressure: core ", offline,
                                           " is not online (online: ", online->text, ")"));
  EXPECT_EQ(fault->Apply().code(), absl::StatusCode::kFailedPrecondition);
  ExpectNothingLeft(TestContext("offline").fault_id);
}

TEST(CpuPressurePrepareTest, RejectsFaultIdThatCannotNameACgroup) {
  FaultContext context = TestContext("x");
  context.fault_id = "../escape";
  auto fault = Maker(Spec(50, 1))(context);
  absl::Status status = fault->Prepare();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "cpu.pressure: fault id '../escape' cannot name a cgroup");
}

TEST(CpuPressurePrepareTest, ZeroWorkersMeansOnePerOnlineCore) {
  auto online = ReadOnlineCpus();
  ASSERT_TRUE(online.ok());
  auto fault = Maker(Spec(10, 0))(TestContext("allcores"));
  EXPECT_EQ(fault->target(), "one worker per core at 10%");
  ASSERT_TRUE(fault->Prepare().ok());
  EXPECT_EQ(fault->target(), absl::StrCat(online->cpus.size(),
                                          online->cpus.size() == 1 ? " worker" : " workers",
                                          " at 10%"));
  auto pinned = Maker(Spec(10, 0, {0}))(TestContext("allcores"));
  ASSERT_TRUE(pinned->Prepare().ok());
  EXPECT_EQ(pinned->target(), "1 worker at 10% on core 0");
  if (online->cpus.size() >= 2) {
    auto two = Maker(Spec(10, 0, {0, 1}))(TestContext("allcores"));
    EXPECT_EQ(two->target(), "one worker per core at 10% on cores 0,1");
    ASSERT_TRUE(two->Prepare().ok());
    EXPECT_EQ(two->target(), "2 workers at 10% on cores 0,1");
  }
}

// --- effect on the host ------------------------------------------------------

struct LoadCase {
  uint32_t load;
  uint32_t workers;
};

void PrintTo(const LoadCase& c, std::ostream* os) {
  *os << "load=" << c.load << "% workers=" << c.workers;
}

class CpuPressureLoadTest : public ::testing::TestWithParam<LoadCase> {};

TEST_P(CpuPressureLoadTest, AchievedLoadMatchesRequest) {
  const LoadCase c = GetParam();
  FaultContext context = TestContext(absl::StrCat("load-", c.load, "-", c.workers));
  auto fault = Maker(Spec(c.load, c.workers))(context);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  const pid_t pid = StressorOf(*fault).pid;

  std::this_thread::sleep_for(500ms);  // warm-up
  fault->Observe();                    // start Observe's interval with ours
  const double measured = MeasuredLoadPct(pid, static_cast<int>(c.workers), 2500ms);
  Observation observed = fault->Observe();
  std::printf("cpu.pressure load=%u workers=%u measured=%.1f%% observed=%.1f%%\n", c.load,
              c.workers, measured, observed["cpu_load_pct_recent"]);
  RecordProperty("measured_load_pct", absl::StrCat(measured));
  EXPECT_NEAR(measured, c.load, 5.0);
  EXPECT_NEAR(observed["cpu_load_pct_recent"], measured, 2.0) << "Observe() disagrees with /proc";
  // Since Apply, including the warm-up: still close to the request.
  EXPECT_NEAR(observed["cpu_load_pct"], c.load, 5.0);
  EXPECT_EQ(observed["workers"], c.workers);

  ASSERT_TRUE(fault->Revert().ok());
  ExpectNothingLeft(context.fault_id);
}

INSTANTIATE_TEST_SUITE_P(Loads, CpuPressureLoadTest,
                         ::testing::Values(LoadCase{25, 1}, LoadCase{50, 1}, LoadCase{90, 1},
                                           LoadCase{50, 2}),
                         [](const auto& info) {
                           return absl::StrCat("load", info.param.load, "_workers",
                                               info.param.workers);
                         });

TEST(CpuPressureTest, RunsInItsCpuacctCgroup) {
  FaultContext context = TestContext("cgroup");
  auto fault = Maker(Spec(40, 1))(context);
  ASSERT_TRUE(fault->Prepare().ok());
  auto layout = DetectCgroups();
  ASSERT_TRUE(layout.ok());
  auto cpuacct = layout->For("cpuacct");
  if (!cpuacct || cpuacct->version != 1) GTEST_SKIP() << "no cgroup v1 cpuacct here";
  EXPECT_EQ(fault->engine(), "stressor+cgroup-v1");
  const std::string path = FaultCgroupPath(*cpuacct, "faultline", context.fault_id);
  EXPECT_EQ(fault->revert_state().cgroup(), path);

  ASSERT_TRUE(fault->Apply().ok());
  auto pids = CgroupPids(path);
  ASSERT_TRUE(pids.ok()) << pids.status();
  EXPECT_EQ(*pids, std::vector<pid_t>{StressorOf(*fault).pid});
  auto u0 = CgroupCpuUsageNs(path);
  std::this_thread::sleep_for(1s);
  auto u1 = CgroupCpuUsageNs(path);
  ASSERT_TRUE(u0.ok() && u1.ok());
  const double pct = static_cast<double>(*u1 - *u0) / 1e7;
  std::printf("cpuacct.usage over 1s: %.1f%%\n", pct);
  EXPECT_NEAR(pct, 40, 8);
  ASSERT_TRUE(fault->Revert().ok());
  ExpectNothingLeft(context.fault_id);
}

std::string CpusAllowed(pid_t pid, const std::string& tid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/task/", tid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view v(line);
    if (absl::ConsumePrefix(&v, "Cpus_allowed_list:")) {
      return std::string(absl::StripAsciiWhitespace(v));
    }
  }
  return "";
}

TEST(CpuPressureTest, PinsWorkersToCores) {
  auto online = ReadOnlineCpus();
  ASSERT_TRUE(online.ok());
  const uint32_t core = static_cast<uint32_t>(*online->cpus.rbegin());
  FaultContext context = TestContext("pin");
  auto fault = Maker(Spec(30, 2, {core}))(context);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  const pid_t pid = StressorOf(*fault).pid;
  int pinned = 0;
  for (const auto& entry : std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"))) {
    const std::string tid = entry.path().filename();
    if (tid == std::to_string(pid)) continue;  // the main thread only waits
    EXPECT_EQ(CpusAllowed(pid, tid), std::to_string(core)) << "thread " << tid;
    ++pinned;
  }
  EXPECT_EQ(pinned, 2);
  ASSERT_TRUE(fault->Revert().ok());
  ExpectNothingLeft(context.fault_id);
}

TEST(CpuPressureTest, StressorStopsOnSigterm) {
  FaultContext context = TestContext("sigterm");
  auto fault = Maker(Spec(20, 1))(context);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  const SpawnedProcess p = StressorOf(*fault);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(p.pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(p.pid, &status, 0), p.pid);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeWaitStatus(status);
  EXPECT_LT(took, 500ms);
  // Revert copes with the stressor having gone on its own.
  ASSERT_TRUE(fault->Revert().ok());
  ExpectNothingLeft(context.fault_id);
}

// --- conformance -------------------------------------------------------------

TEST(CpuPressureConformanceTest, ApplyRevertLeavesNothing) {
  testing::CheckApplyRevertLeavesNothing(Maker(Spec(30, 1)), "cpu-apply-revert");
}
TEST(CpuPressureConformanceTest, RevertWithoutApply) {
  testing::CheckRevertWithoutApply(Maker(Spec(30, 1)), "cpu-no-apply");
}
TEST(CpuPressureConformanceTest, FailedApplyLeavesNothing) {
  testing::CheckFailedApplyLeavesNothing(Maker(Spec(30, 1)), "cpu-failed-apply");
}
TEST(CpuPressureConformanceTest, CrashRecovery) {
  testing::CheckCrashRecovery(Maker(Spec(30, 2)), "cpu-recovery");
}
TEST(CpuPressureConformanceTest, RevertSparesReusedPid) {
  testing::CheckRevertSparesReusedPid(Maker(Spec(30, 1)), "cpu-reused-pid");
}
TEST(CpuPressureConformanceTest, StressorDiesWithParent) {
  testing::CheckStressorDiesWithParent(Maker(Spec(30, 1)), "cpu-parent-death");
}

}  // namespace
}  // namespace faultline::agent
