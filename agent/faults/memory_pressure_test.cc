// memory.pressure on the real host: residency is measured from /proc (the
// stressor's RSS), not read back from the config.
#include "agent/faults/memory_pressure.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/faults/stressor_testing.h"
#include "agent/host/sysinfo.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using namespace std::chrono_literals;
using testing::ExpectNothingLeft;
using testing::StressorOf;
using testing::TestContext;
using testing::WaitFor;

constexpr uint64_t kMiB = 1024 * 1024;

v1::MemoryPressure Bytes(uint64_t bytes, uint64_t ramp_ms = 0) {
  v1::MemoryPressure spec;
  spec.set_size_bytes(bytes);
  spec.set_ramp_ms(ramp_ms);
  return spec;
}

v1::MemoryPressure Percent(double percent) {
  v1::MemoryPressure spec;
  spec.set_percent(percent);
  return spec;
}

testing::MakeFn Maker(const v1::MemoryPressure& spec) {
  return [spec](const FaultContext& context) {
    auto fault = MakeMemoryPressureFault(spec, context);
    EXPECT_TRUE(fault.ok()) << fault.status();
    return std::move(fault).value();
  };
}

uint64_t Rss(pid_t pid) {
  auto info = ReadProcess(pid);
  return info.ok() ? info->rss_bytes : 0;
}

bool Within(uint64_t value, uint64_t target, double fraction) {
  const double diff = static_cast<double>(value) - static_cast<double>(target);
  return std::abs(diff) <= fraction * static_cast<double>(target);
}

// --- validation --------------------------------------------------------------

TEST(MemoryPressureValidationTest, Table) {
  v1::MemoryPressure both = Bytes(1 * kMiB);
  both.set_percent(10);
  const std::vector<std::pair<v1::MemoryPressure, std::string>> cases = {
      {Bytes(256 * kMiB), ""},
      {Percent(100), ""},
      {Percent(0.5), ""},
      {Bytes(1, 3'600'000), ""},
      {v1::MemoryPressure(), "memory.pressure: one of size_bytes or percent must be set"},
      {both, "memory.pressure: set only one of size_bytes or percent, got size_bytes=1048576 "
             "and percent=10"},
      {Percent(150), "memory.pressure: percent must be in (0, 100], got 150"},
      {Percent(-5), "memory.pressure: percent must be in (0, 100], got -5"},
      {Bytes(kMiB, 3'600'001),
       "memory.pressure: ramp_ms must be at most 3600000 (1h), got 3600001"},
  };
  for (const auto& [spec, error] : cases) {
    SCOPED_TRACE(spec.ShortDebugString());
    absl::Status status = ValidateMemoryPressure(spec);
    if (error.empty()) {
      EXPECT_TRUE(status.ok()) << status;
      continue;
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), error);
    EXPECT_EQ(MakeMemoryPressureFault(spec, TestContext("validation")).status(), status);
    v1::FaultSpec wrapped;
    *wrapped.mutable_memory_pressure() = spec;
    EXPECT_EQ(ValidateSpec(wrapped), status);
  }
}

TEST(MemoryPressurePrepareTest, RefusesToEatTheReserve) {
  auto mem = ReadMemInfo();
  ASSERT_TRUE(mem.ok());
  FaultContext context = TestContext("reserve");
  context.memory_reserve_pct = 10;
  // Leaves about 5% of MemTotal available: below the 10% reserve.
  const uint64_t request = mem->available_bytes - mem->total_bytes / 20;
  auto fault = Maker(Bytes(request))(context);
  const auto before = testing::OurStressors();
  absl::Status status = fault->Prepare();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(),
                               absl::StrCat("memory.pressure: ", request / kMiB,
                                            " MiB requested but only ")))
      << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "MiB (10% of ")) << status;
  std::printf("refusal: %s\n", std::string(status.message()).c_str());
  EXPECT_EQ(fault->Apply().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(testing::OurStressors(), before) << "a stressor was spawned";
  EXPECT_TRUE(fault->Revert().ok());
  ExpectNothingLeft(context.fault_id);

  // More than is available at all, and the percent form.
  auto all = Maker(Percent(100))(TestContext("reserve-all"));
  EXPECT_EQ(all->Prepare().code(), absl::StatusCode::kInvalidArgument);
  ExpectNothingLeft(TestContext("reserve-all").fault_id);
}

// --- effect on the host ------------------------------------------------------

TEST(MemoryPressureTest, HoldsRequestedBytesResident) {
  constexpr uint64_t kTarget = 256 * kMiB;
  FaultContext context = TestContext("resident");
  auto fault = Maker(Bytes(kTarget))(context);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  const pid_t pid = StressorOf(*fault).pid;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitFor([&] { return Within(Rss(pid), kTarget, 0.05); }, 5s))
      << "rss " << Rss(pid) << " target " << kTarget;
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - t0);
  std::this_thread::sleep_for(300ms);  // it holds, it does not grow
  const uint64_t rss = Rss(pid);
  Observation observed = fault->Observe();
  std::printf("memory.pressure target=%llu MiB rss=%.1f MiB (after %lld ms) observed=%.1f MiB\n",
              static_cast<unsigned long long>(kTarget / kMiB), static_cast<double>(rss) / kMiB,
              static_cast<long long>(took.count()), observed["rss_bytes"] / kMiB);
  EXPECT_TRUE(Within(rss, kTarget, 0.05)) << rss;
  EXPECT_TRUE(Within(static_cast<uint64_t>(observed["rss_bytes"]), kTarget, 0.05));
  EXPECT_EQ(observed["target_bytes"], static_cast<double>(kTarget));

  std::ifstream oom(absl::StrCat("/proc/", pid, "/oom_score_adj"));
  int adj = 0;
  oom >> adj;
  EXPECT_EQ(adj, 1000);

  const std::string cgroup = fault->revert_state().cgroup();
  if (!cgroup.empty()) {
    auto charged = CgroupMemoryBytes(cgroup);
    ASSERT_TRUE(charged.ok()) << charged.status();
    std::printf("memory cgroup %s charged=%.1f MiB\n", cgroup.c_str(),
                static_cast<double>(*charged) / kMiB);
    EXPECT_TRUE(Within(*charged, kTarget, 0.05)) << *charged;
  }
  ASSERT_TRUE(fault->Revert().ok());
  ExpectNothingLeft(context.fault_id);
}

TEST(MemoryPressureTest, RampsUpOverRampMs) {
  constexpr uint64_t kTarget = 256 * kMiB;
  FaultContext context = TestContext("ramp");
  auto fault = Maker(Bytes(kTarget, 2000))(context);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  const pid_t pid = StressorOf(*fault).pid;
  std::this_thread::sleep_for(1000ms);
  const uint64_t halfway = Rss(pid);
  std::printf("ramp: rss after 1s of 2s = %.1f MiB\n", static_cast<double>(halfway) / kMiB);
  EXPECT_GT(halfway, kTarget / 4);
  EXPECT_LT(halfway, kTarget * 3 / 4);
  EXPECT_TRUE(WaitFor([&] { return Within(Rss(pid), kTarget, 0.05); }, 3s))
      << "rss " << Rss(pid);
  std::printf("ramp: rss after ramp = %.1f MiB\n", static_cast<double>(Rss(pid)) / kMiB);
  ASSERT_TRUE(fault->Revert().ok());
  ExpectNothingLeft(context.fault_id);
}

TEST(MemoryPressureTest, PercentOfMemTotal) {
  auto mem = ReadMemInfo();
  ASSERT_TRUE(mem.ok());
  // About 256 MiB whatever the host's size, expressed as a percentage (RSS
  // also counts a few MiB of the stressor's own code and libraries).
  const double percent =
      100.0 * static_cast<double>(256 * kMiB) / static_cast<double>(mem->total_bytes);
  FaultContext context = TestContext("percent");
  auto fault = Maker(Percent(percent))(context);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  const pid_t pid = StressorOf(*fault).pid;
  const uint64_t target = static_cast<uint64_t>(fault->Observe()["target_bytes"]);
  EXPECT_TRUE(Within(target, 256 * kMiB, 0.01)) << target;
  EXPECT_TRUE(WaitFor([&] { return Within(Rss(pid), target, 0.05); }, 5s)) << Rss(pid);
  ASSERT_TRUE(fault->Revert().ok());
  ExpectNothingLeft(context.fault_id);
}

TEST(MemoryPressureTest, EngineOnThisHost) {
  FaultContext context = TestContext("engine");
  auto fault = Maker(Bytes(kMiB))(context);
  ASSERT_TRUE(fault->Prepare().ok());
  auto layout = DetectCgroups();
  ASSERT_TRUE(layout.ok());
  auto memory = layout->For("memory");
  if (!memory) {
    EXPECT_EQ(fault->engine(), "stressor");
    return;
  }
  EXPECT_EQ(fault->engine(), absl::StrCat("stressor+cgroup-v", memory->version));
  // Under the memory cgroup this process is already in, not the root.
  EXPECT_EQ(fault->revert_state().cgroup(),
            absl::StrCat(memory->base, "/faultline/", context.fault_id));
}

// --- conformance -------------------------------------------------------------

TEST(MemoryPressureConformanceTest, ApplyRevertLeavesNothing) {
  testing::CheckApplyRevertLeavesNothing(Maker(Bytes(64 * kMiB)), "mem-apply-revert");
}
TEST(MemoryPressureConformanceTest, RevertWithoutApply) {
  testing::CheckRevertWithoutApply(Maker(Bytes(64 * kMiB)), "mem-no-apply");
}
TEST(MemoryPressureConformanceTest, FailedApplyLeavesNothing) {
  testing::CheckFailedApplyLeavesNothing(Maker(Bytes(64 * kMiB)), "mem-failed-apply");
}
TEST(MemoryPressureConformanceTest, CrashRecovery) {
  testing::CheckCrashRecovery(Maker(Bytes(64 * kMiB)), "mem-recovery");
}
TEST(MemoryPressureConformanceTest, RevertSparesReusedPid) {
  testing::CheckRevertSparesReusedPid(Maker(Bytes(64 * kMiB)), "mem-reused-pid");
}
TEST(MemoryPressureConformanceTest, StressorDiesWithParent) {
  testing::CheckStressorDiesWithParent(Maker(Bytes(64 * kMiB)), "mem-parent-death");
}

}  // namespace
}  // namespace faultline::agent
