#include "agent/host/cgroup.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

// This development host: v1 controllers, memory nested, cgroup2 with only
// hugetlb.
constexpr char kHybridMountinfo[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr char kHybridSelf[] =
    "9:name=systemd:/\n4:memory:/process_api/b4c0\n2:cpuacct:/\n1:cpu:/\n0::/\n";

TEST(CgroupLayoutTest, HybridHost) {
  auto layout = CgroupLayout::Parse(kHybridMountinfo, kHybridSelf, "hugetlb\n");
  ASSERT_TRUE(layout.ok()) << layout.status();
  auto cpuacct = layout->For("cpuacct");
  ASSERT_TRUE(cpuacct);
  EXPECT_EQ(cpuacct->version, 1);
  EXPECT_EQ(cpuacct->base, "/sys/fs/cgroup/cpuacct");
  auto memory = layout->For("memory");
  ASSERT_TRUE(memory);
  EXPECT_EQ(memory->version, 1);
  EXPECT_EQ(memory->mount, "/sys/fs/cgroup/memory");
  EXPECT_EQ(memory->base, "/sys/fs/cgroup/memory/process_api/b4c0");
  EXPECT_EQ(FaultCgroupPath(*memory, "faultline", "f1"),
            "/sys/fs/cgroup/memory/process_api/b4c0/faultline/f1");
  auto unified = layout->Unified();
  ASSERT_TRUE(unified);
  EXPECT_EQ(unified->base, "/sys/fs/cgroup/unified");
  EXPECT_EQ(layout->For("hugetlb")->version, 2);
  EXPECT_FALSE(layout->For("io"));
}

TEST(CgroupLayoutTest, PureV2HostPrefersUnified) {
  auto layout = CgroupLayout::Parse(
      "30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
      "0::/system.slice/faultline-agent.service\n", "cpuset cpu io memory pids\n");
  ASSERT_TRUE(layout.ok()) << layout.status();
  auto memory = layout->For("memory");
  ASSERT_TRUE(memory);
  EXPECT_EQ(memory->version, 2);
  EXPECT_EQ(memory->base, "/sys/fs/cgroup/system.slice/faultline-agent.service");
  EXPECT_FALSE(layout->For("cpuacct"));
}

TEST(CgroupLayoutTest, CoMountedControllersAndEscapes) {
  auto layout = CgroupLayout::Parse(
      "25 20 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "26 20 0:23 / /mnt/my\\040cgroups rw - cgroup cgroup rw,memory\n",
      "3:cpu,cpuacct:/user.slice\n5:memory:/\n", "");
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->For("cpuacct")->base, "/sys/fs/cgroup/cpu,cpuacct/user.slice");
  EXPECT_EQ(layout->For("cpu")->base, "/sys/fs/cgroup/cpu,cpuacct/user.slice");
  EXPECT_EQ(layout->For("memory")->base, "/mnt/my cgroups");
}

TEST(CgroupLayoutTest, ContainerMountRootIsStripped) {
  auto layout = CgroupLayout::Parse(
      "700 690 0:30 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
      "4:memory:/docker/abc/app\n", "");
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->For("memory")->base, "/sys/fs/cgroup/memory/app");
}

TEST(CgroupLayoutTest, GarbageIsInvalidArgument) {
  EXPECT_EQ(CgroupLayout::Parse("nonsense\n", "", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CgroupLayout::Parse(kHybridMountinfo, "no colons\n", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CgroupNameTest, Table) {
  EXPECT_TRUE(IsValidCgroupName("f1"));
  EXPECT_TRUE(IsValidCgroupName("run-42.cpu_pressure"));
  EXPECT_FALSE(IsValidCgroupName(""));
  EXPECT_FALSE(IsValidCgroupName("."));
  EXPECT_FALSE(IsValidCgroupName(".."));
  EXPECT_FALSE(IsValidCgroupName("a/b"));
  EXPECT_FALSE(IsValidCgroupName("a\nb"));
  EXPECT_FALSE(IsValidCgroupName(std::string(201, 'x')));
}

TEST(CgroupOwnershipTest, RefusesPathsWeDoNotOwn) {
  for (const char* path : {"relative/faultline/x", "/sys/fs/cgroup/cpu/other/x",
                           "/sys/fs/cgroup/cpu/faultline/../x", "/sys/fs/cgroup/cpu/faultline/",
                           "/sys/fs/cgroup/cpu//faultline/x", "/faultline/x"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(CheckOwnedCgroupPath(path, "faultline").code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(RemoveCgroup(path, "faultline").code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(KillCgroup(path, "faultline").code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(CreateCgroup(path, "faultline").code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(CgroupOwnershipTest, RefusesRightShapeOffCgroupFs) {
  char tmp[] = "/tmp/cgroup_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmp), nullptr);
  const std::string parent = absl::StrCat(tmp, "/faultline");
  const std::string leaf = parent + "/x";
  ASSERT_EQ(mkdir(parent.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(leaf.c_str(), 0700), 0);
  EXPECT_EQ(CheckOwnedCgroupPath(leaf, "faultline").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RemoveCgroup(leaf, "faultline").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KillCgroup(leaf, "faultline").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCgroup(parent + "/y", "faultline").code(), absl::StatusCode::kInvalidArgument);
  struct stat st {};
  EXPECT_EQ(stat(leaf.c_str(), &st), 0) << "a plain directory was removed";
  rmdir(leaf.c_str());
  rmdir(parent.c_str());
  rmdir(tmp);
}

// --- the real host -----------------------------------------------------------

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

TEST(CgroupHostTest, CreateJoinKillRemove) {
  auto layout = DetectCgroups();
  ASSERT_TRUE(layout.ok()) << layout.status();
  auto cpuacct = layout->For("cpuacct");
  if (!cpuacct) GTEST_SKIP() << "no cpuacct hierarchy";
  const std::string path = FaultCgroupPath(*cpuacct, "faultline", absl::StrCat("cgtest-", getpid()));
  ASSERT_TRUE(CheckOwnedCgroupPath(path, "faultline").ok());

  ASSERT_TRUE(CreateCgroup(path, "faultline").ok());
  EXPECT_EQ(CreateCgroup(path, "faultline").code(), absl::StatusCode::kAlreadyExists);
  auto empty = CgroupPids(path);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) pause();
  }
  ASSERT_TRUE(AddToCgroup(path, child).ok());
  ASSERT_TRUE(AddToCgroup(path, child).ok());  // idempotent
  auto pids = CgroupPids(path);
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(*pids, std::vector<pid_t>{child});
  EXPECT_TRUE(CgroupCpuUsageNs(path).ok());

  // Remove kills what is inside first.
  ASSERT_TRUE(RemoveCgroup(path, "faultline").ok());
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(Exists(path));
  EXPECT_TRUE(RemoveCgroup(path, "faultline").ok()) << "idempotent";
  EXPECT_TRUE(KillCgroup(path, "faultline").ok());
  EXPECT_EQ(CgroupPids(path).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(AddToCgroup(path, getpid()).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace faultline::agent
