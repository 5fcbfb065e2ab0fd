#include "agent/policy/policy.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

struct Parsed {
  std::optional<Policy> policy;
  std::vector<std::string> errors;  // "line:col: message"
};

// Parses `text` as the value of the config file's `policy:` key.
Parsed Parse(const std::string& text) {
  Parsed out;
  std::vector<Diagnostic> parse_errors;
  std::optional<YamlNode> root = ParseYaml("policy:\n" + text, "agent.yaml", &parse_errors,
                                           "agent config");
  EXPECT_TRUE(parse_errors.empty()) << parse_errors.front().ToString();
  if (!root.has_value()) return out;
  Diagnostics diagnostics;
  out.policy = ReadPolicy(root->entries.at(0).second, &diagnostics);
  for (const Diagnostic& d : diagnostics.list()) out.errors.push_back(d.ToString());
  return out;
}

Policy MustParse(const std::string& text) {
  Parsed parsed = Parse(text);
  EXPECT_TRUE(parsed.policy.has_value()) << absl::StrJoin(parsed.errors, "\n");
  return parsed.policy.value_or(Policy{});
}

TEST(ReadPolicyTest, ReadsEveryKey) {
  Policy p = MustParse(R"(
  allowed_kinds: [network.delay, network.loss, "cpu.*"]
  max_delay: 500ms
  max_loss_pct: 30
  max_cpu_pct: 80
  max_memory: 2GiB
  max_duration: 10m
  interfaces: [eth0, "veth*"]
  protected_processes: [postgres, "cmdline:/usr/sbin/nginx"]
  max_concurrent_faults: 4
)");
  ASSERT_TRUE(p.allowed_kinds.has_value());
  EXPECT_THAT(*p.allowed_kinds, ::testing::ElementsAre("network.delay", "network.loss", "cpu.*"));
  EXPECT_EQ(p.max_delay, std::chrono::microseconds(500000));
  EXPECT_EQ(p.max_loss_pct, 30);
  EXPECT_EQ(p.max_cpu_pct, 80);
  ASSERT_TRUE(p.max_memory.has_value());
  EXPECT_EQ(p.max_memory->bytes, uint64_t{2} << 30);
  EXPECT_EQ(p.max_duration, milliseconds(600000));
  EXPECT_THAT(*p.interfaces, ::testing::ElementsAre("eth0", "veth*"));
  EXPECT_THAT(p.protected_processes,
              ::testing::ElementsAre("postgres", "cmdline:/usr/sbin/nginx"));
  EXPECT_EQ(p.max_concurrent_faults, 4u);
  EXPECT_EQ(p.Describe(),
            "allowed_kinds=[network.delay, network.loss, cpu.*] max_delay=500ms "
            "max_loss_pct=30% max_cpu_pct=80% max_memory=2Gi max_duration=10m "
            "interfaces=[eth0, veth*] protected_processes=[postgres, cmdline:/usr/sbin/nginx] "
            "max_concurrent_faults=4");
}

TEST(ReadPolicyTest, EmptyAndPercentMemory) {
  Parsed empty = Parse("");
  ASSERT_TRUE(empty.policy.has_value());
  EXPECT_TRUE(empty.policy->Unlimited());
  EXPECT_EQ(empty.policy->Describe(), "no limits");
  Policy p = MustParse("  max_memory: 25%\n");
  ASSERT_TRUE(p.max_memory.has_value());
  EXPECT_EQ(p.max_memory->percent, 25);
  EXPECT_EQ(p.Describe(), "max_memory=25% of MemTotal");
}

TEST(ReadPolicyTest, ErrorsNameFileLineColumn) {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"  max_dealy: 500ms\n", "agent.yaml:2:3: unknown field \"max_dealy\""},
      {"  max_delay: 5 parsecs\n", "agent.yaml:2:14: policy.max_delay must be a duration"},
      {"  max_delay: 2h\n", "policy.max_delay must be a duration from 1ms to 1h, got 2h"},
      {"  max_loss_pct: 130\n", "agent.yaml:2:17: policy.max_loss_pct must be a percent 0..100"},
      {"  max_cpu_pct: 0\n", "policy.max_cpu_pct must be a percent in (0, 100]"},
      {"  max_memory: 120%\n", "agent.yaml:2:15: policy.max_memory must be a size"},
      {"  max_memory: lots\n", "policy.max_memory must be a size such as 2Gi"},
      {"  max_memory: 0\n", "policy.max_memory must be a size"},
      {"  max_duration: 0s\n", "policy.max_duration must be a duration from 1s to 365 days"},
      {"  allowed_kinds: [netwrk.delay]\n",
       "agent.yaml:2:19: policy.allowed_kinds: \"netwrk.delay\" matches no fault kind (did you "
       "mean network.delay?)"},
      {"  allowed_kinds: network.delay\n", "policy.allowed_kinds: expected a sequence"},
      {"  interfaces: [\"\"]\n", "policy.interfaces entries must be 1..256 characters"},
      {"  protected_processes: [/usr/bin/postgres]\n",
       "agent.yaml:2:25: policy.protected_processes: \"/usr/bin/postgres\" is a path"},
      {"  protected_processes: [\"cmdline:\"]\n", "\"cmdline:\" needs a substring"},
      {"  max_concurrent_faults: 0\n", "policy.max_concurrent_faults must be an integer 1..100000"},
  };
  for (const Case& c : cases) {
    Parsed parsed = Parse(c.text);
    EXPECT_FALSE(parsed.policy.has_value()) << c.text;
    ASSERT_EQ(parsed.errors.size(), 1u) << c.text << absl::StrJoin(parsed.errors, "\n");
    EXPECT_THAT(parsed.errors[0], HasSubstr(c.error)) << c.text;
  }
  Diagnostics diagnostics;
  std::vector<Diagnostic> ignored;
  std::optional<YamlNode> root = ParseYaml("policy: [1]\n", "agent.yaml", &ignored);
  ASSERT_TRUE(root.has_value());
  EXPECT_FALSE(ReadPolicy(root->entries.at(0).second, &diagnostics).has_value());
  EXPECT_THAT(diagnostics.list().at(0).ToString(), HasSubstr("policy: expected a mapping"));
}

v1::ApplyRequest Request(uint64_t duration_ms = 10'000) {
  v1::ApplyRequest r;
  r.set_fault_id("f1");
  r.set_run_id("run1");
  r.set_duration_ms(duration_ms);
  return r;
}

v1::ApplyRequest Delay(uint64_t delay_us, uint64_t jitter_us, const std::string& interface) {
  v1::ApplyRequest r = Request();
  v1::NetworkDelay* d = r.mutable_spec()->mutable_network_delay();
  d->set_delay_us(delay_us);
  d->set_jitter_us(jitter_us);
  d->mutable_target()->set_interface(interface);
  return r;
}

v1::ApplyRequest Cpu(uint32_t load) {
  v1::ApplyRequest r = Request();
  r.mutable_spec()->mutable_cpu_pressure()->set_load_pct(load);
  return r;
}

v1::ApplyRequest Loss(double pct) {
  v1::ApplyRequest r = Request();
  r.mutable_spec()->mutable_network_loss()->set_percent(pct);
  r.mutable_spec()->mutable_network_loss()->mutable_target()->set_interface("eth0");
  return r;
}

v1::ApplyRequest Memory(uint64_t bytes, double pct) {
  v1::ApplyRequest r = Request();
  r.mutable_spec()->mutable_memory_pressure()->set_size_bytes(bytes);
  r.mutable_spec()->mutable_memory_pressure()->set_percent(pct);
  return r;
}

v1::ApplyRequest KillName(const std::string& name) {
  v1::ApplyRequest r = Request();
  r.mutable_spec()->mutable_process_kill()->mutable_target()->set_name(name);
  return r;
}

TEST(CheckRequestTest, EachRule) {
  Policy p = MustParse(R"(
  allowed_kinds: ["network.*", cpu.pressure, memory.pressure, process.kill]
  max_delay: 500ms
  max_loss_pct: 30
  max_cpu_pct: 80
  max_memory: 1Gi
  max_duration: 10m
  interfaces: [eth0, "veth*"]
  protected_processes: [postgres]
)");
  p.mem_total_bytes = uint64_t{4} << 30;
  v1::ApplyRequest ge = Loss(0);
  ge.mutable_spec()->mutable_network_loss()->set_model(v1::LOSS_MODEL_GILBERT_ELLIOTT);
  auto* chain = ge.mutable_spec()->mutable_network_loss()->mutable_gilbert_elliott();
  chain->set_p_pct(10);
  chain->set_r_pct(10);
  chain->set_bad_loss_pct(100);  // half the time in the bad state: 50% average
  v1::ApplyRequest pause = Request();
  pause.mutable_spec()->mutable_process_pause()->mutable_target()->set_name("x");
  v1::ApplyRequest corrupt = Request();
  corrupt.mutable_spec()->mutable_network_corrupt()->set_percent(40);
  corrupt.mutable_spec()->mutable_network_corrupt()->mutable_target()->set_interface("veth1");
  v1::ApplyRequest ttl = Cpu(10);
  ttl.set_ttl_ms(3'600'000);
  v1::ApplyRequest init = Request();
  init.mutable_spec()->mutable_process_kill()->mutable_target()->set_pid(1);

  struct Case {
    std::string name;
    v1::ApplyRequest request;
    std::string error;  // "" = allowed
  };
  const std::vector<Case> cases = {
      {"delay within", Delay(400'000, 100'000, "eth0"), ""},
      {"delay + jitter over", Delay(450'000, 100'000, "veth3"),
       "policy max_delay (500ms) refuses network.delay of 550ms (delay 450ms + jitter 100ms)"},
      {"delay overflow saturates", Delay(UINT64_MAX, 5, "eth0"), "policy max_delay (500ms)"},
      {"interface not allowed", Delay(1000, 0, "lo"),
       "policy interfaces ([eth0, veth*]) refuse interface lo"},
      {"interface unnamed", Delay(1000, 0, ""),
       "policy interfaces ([eth0, veth*]) refuse network.delay without target.interface"},
      {"loss within", Loss(30), ""},
      {"loss over", Loss(31), "policy max_loss_pct (30%) refuses network.loss of 31%"},
      {"loss NaN", Loss(std::nan("")), "policy max_loss_pct (30%) refuses network.loss of nan%"},
      {"gilbert-elliott average", ge,
       "policy max_loss_pct (30%) refuses network.loss of 50% (gilbert-elliott"},
      {"corrupt over", corrupt, "policy max_loss_pct (30%) refuses network.corrupt of 40%"},
      {"cpu within", Cpu(80), ""},
      {"cpu over", Cpu(95), "policy max_cpu_pct (80%) refuses cpu.pressure load of 95%"},
      {"memory bytes within", Memory(uint64_t{1} << 30, 0), ""},
      {"memory bytes over", Memory((uint64_t{1} << 30) + 1, 0),
       "policy max_memory (1Gi) refuses memory.pressure of"},
      {"memory percent within", Memory(0, 25), ""},
      {"memory percent over", Memory(0, 30),
       "policy max_memory (1Gi) refuses memory.pressure of 30% of MemTotal (1288490188 bytes)"},
      {"kind not allowed", pause,
       "policy allowed_kinds ([network.*, cpu.pressure, memory.pressure, process.kill]) refuses "
       "process.pause"},
      {"duration over", Request(600'001), ""},  // no kind: left to validation
      {"ttl over", ttl, "policy max_duration (10m) refuses cpu.pressure with ttl 1h"},
      {"protected name", KillName("postgres"),
       "policy protected_processes (postgres) refuses process.kill of name postgres"},
      {"sshd by name", KillName("sshd"),
       "policy protected_processes: name sshd is always protected (ssh daemon)"},
      {"pid 1", init, "policy protected_processes: pid 1 is always protected (init)"},
      {"other name", KillName("worker"), ""},
  };
  for (const Case& c : cases) {
    absl::Status s = p.CheckRequest(c.request);
    const std::string message(s.message());
    if (c.error.empty()) {
      EXPECT_TRUE(s.ok()) << c.name << ": " << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << c.name << ": " << s;
      EXPECT_THAT(message, HasSubstr(c.error)) << c.name;
    }
  }
  v1::ApplyRequest long_cpu = Cpu(10);
  long_cpu.set_duration_ms(600'001);
  EXPECT_EQ(p.CheckRequest(long_cpu).message(),
            "policy max_duration (10m) refuses cpu.pressure for 10m0.001s");
}

TEST(CheckRequestTest, MemoryUnitsNeedMemTotal) {
  Policy bytes = MustParse("  max_memory: 1Gi\n");
  EXPECT_THAT(bytes.CheckRequest(Memory(0, 10)).message(), HasSubstr("(MemTotal unknown)"));
  Policy pct = MustParse("  max_memory: 25%\n");
  EXPECT_THAT(pct.CheckRequest(Memory(1024, 0)).message(), HasSubstr("(MemTotal unknown)"));
  pct.mem_total_bytes = 4096;
  EXPECT_TRUE(pct.CheckRequest(Memory(1024, 0)).ok());
  EXPECT_EQ(std::string(pct.CheckRequest(Memory(1025, 0)).message()),
            "policy max_memory (25% of MemTotal) refuses memory.pressure of 1025 bytes (25.02% of "
            "MemTotal)");
}

TEST(CheckRequestTest, UnlimitedAllowsAnythingButTheAlwaysProtected) {
  Policy none;
  EXPECT_TRUE(none.CheckRequest(Delay(60'000'000, 0, "")).ok());
  EXPECT_TRUE(none.CheckRequest(Cpu(100)).ok());
  EXPECT_TRUE(none.CheckRequest(v1::ApplyRequest()).ok());
  EXPECT_EQ(none.CheckRequest(KillName("sshd")).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(none.CheckConcurrent(1000).ok());
}

// Hostile values never crash, wrap or slip under a limit.
TEST(CheckRequestTest, ExtremeValuesAreRefusedCleanly) {
  Policy p = MustParse(R"(
  max_delay: 1s
  max_loss_pct: 10
  max_memory: 1Gi
  max_duration: 1h
)");
  p.mem_total_bytes = UINT64_MAX;
  for (const v1::ApplyRequest& r :
       {Delay(UINT64_MAX, UINT64_MAX, "x"), Loss(std::numeric_limits<double>::infinity()),
        Loss(-std::nan("")), Memory(0, 1e300), Memory(UINT64_MAX, 0)}) {
    absl::Status s = p.CheckRequest(r);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << r.ShortDebugString();
  }
  v1::ApplyRequest forever = Cpu(1);
  forever.set_duration_ms(UINT64_MAX);
  EXPECT_EQ(p.CheckRequest(forever).code(), absl::StatusCode::kPermissionDenied);
  v1::ApplyRequest ge = Loss(0);
  ge.mutable_spec()->mutable_network_loss()->set_model(v1::LOSS_MODEL_GILBERT_ELLIOTT);
  ge.mutable_spec()->mutable_network_loss()->mutable_gilbert_elliott()->set_p_pct(
      std::numeric_limits<double>::infinity());
  ge.mutable_spec()->mutable_network_loss()->mutable_gilbert_elliott()->set_r_pct(
      std::numeric_limits<double>::infinity());
  EXPECT_EQ(p.CheckRequest(ge).code(), absl::StatusCode::kPermissionDenied);
}

TEST(CheckRequestTest, EmptyAllowedKindsRefusesEverything) {
  Policy p = MustParse("  allowed_kinds: []\n");
  EXPECT_EQ(p.CheckRequest(Cpu(1)).message(), "policy allowed_kinds ([]) refuses cpu.pressure");
}

TEST(CheckConcurrentTest, RefusesAtTheLimit) {
  Policy p = MustParse("  max_concurrent_faults: 2\n");
  EXPECT_TRUE(p.CheckConcurrent(1).ok());
  absl::Status s = p.CheckConcurrent(2);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "policy max_concurrent_faults (2) refuses another fault: 2 active");
}

}  // namespace
}  // namespace faultline::agent
