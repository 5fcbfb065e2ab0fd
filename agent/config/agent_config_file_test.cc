// The agent config file: every section of the documented example, paths
// relative to the file, and file:line:col errors from this reader and from
// the authorization and policy section readers.
#include "agent/config/agent_config_file.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using ::testing::HasSubstr;

constexpr char kExample[] = R"(# the example of issue 6
listen: 0.0.0.0:7431
state_dir: state
max_faults: 8
lease_ttl: 20s
memory_reserve_pct: 15
tls: {ca: /etc/faultline/tls/ca.pem, cert: tls/agent.pem, key: ../tls/agent.key}
audit_log: /var/log/faultline/agent-audit.jsonl
authorization:
  - name: controllers
    identities: ["CN=faultline-controller", "URI:spiffe://example/ctl", "DNS:ctl.example"]
    allow: [apply, revert, renew, halt, list, capabilities]
    kinds: ["network.*", cpu.pressure]
  - name: dashboards
    identities: ["CN=faultline-dashboard"]
    allow: [read]
policy:
  allowed_kinds: [network.delay, network.loss, cpu.pressure]
  max_delay: 500ms
  max_loss_pct: 30
  max_cpu_pct: 80
  max_memory: 2GiB
  max_duration: 10m
  interfaces: [eth0, "veth*"]
  protected_processes: [postgres, "cmdline:/usr/sbin/nginx"]
  max_concurrent_faults: 4
)";

TEST(AgentConfigFileTest, ReadsTheDocumentedExample) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<AgentConfigFile> config =
      ParseAgentConfigFile(kExample, "/etc/faultline/agent.yaml", &diagnostics);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(diagnostics.empty());
  EXPECT_EQ(config->listen, "0.0.0.0:7431");
  EXPECT_EQ(config->state_dir, "/etc/faultline/state");
  EXPECT_EQ(config->max_faults, 8u);
  EXPECT_EQ(config->lease_ttl, std::chrono::seconds(20));
  EXPECT_EQ(config->memory_reserve_pct, 15.0);
  EXPECT_EQ(config->tls.ca, "/etc/faultline/tls/ca.pem");
  EXPECT_EQ(config->tls.cert, "/etc/faultline/tls/agent.pem");
  EXPECT_EQ(config->tls.key, "/etc/tls/agent.key");
  EXPECT_EQ(config->audit_log, "/var/log/faultline/agent-audit.jsonl");
  ASSERT_TRUE(config->authorization.has_value());
  ASSERT_EQ(config->authorization->rules().size(), 2u);
  EXPECT_EQ(config->authorization->rules()[1].name, "dashboards");
  ASSERT_TRUE(config->policy.has_value());
  EXPECT_EQ(config->policy->max_concurrent_faults, 4u);
  EXPECT_EQ(config->policy->max_delay, std::chrono::milliseconds(500));
}

TEST(AgentConfigFileTest, EmptySectionsLeaveEverythingUnset) {
  absl::StatusOr<AgentConfigFile> config = ParseAgentConfigFile("{}\n", "a.yaml", nullptr);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->listen.has_value());
  EXPECT_TRUE(config->tls.empty());
  EXPECT_FALSE(config->authorization.has_value());
  EXPECT_FALSE(config->policy.has_value());
}

TEST(AgentConfigFileTest, EveryProblemHasItsLineAndColumn) {
  const std::string text =
      "listen: 7431\n"                          // 1: no colon
      "tls: {ca: ca.pem, cert: agent.pem}\n"    // 2: key missing
      "audit_logg: /x\n"                        // 3: typo
      "policy:\n"                               // 4
      "  max_delay: fast\n"                     // 5: not a duration
      "authorization:\n"                        // 6
      "  - name: a\n"                           // 7
      "    identities: [CN=x]\n"                // 8
      "    allow: [aply]\n";                    // 9: unknown action
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<AgentConfigFile> config = ParseAgentConfigFile(text, "agent.yaml", &diagnostics);
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("agent.yaml:1:9: listen must be HOST:PORT"));
  EXPECT_THAT(config.status().message(), HasSubstr("more problems"));
  std::vector<std::string> lines;
  for (const Diagnostic& d : diagnostics) lines.push_back(d.ToString());
  ASSERT_GE(lines.size(), 5u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("agent.yaml:1:9:"));
  EXPECT_THAT(lines[1], HasSubstr("agent.yaml:2:6: missing required field \"key\" in tls"));
  EXPECT_THAT(lines[2], HasSubstr("agent.yaml:3:1:"));
  EXPECT_THAT(lines[2], HasSubstr("audit_log"));
  EXPECT_THAT(lines[3], HasSubstr("agent.yaml:5:"));
  EXPECT_THAT(lines[3], HasSubstr("max_delay"));
  EXPECT_THAT(lines[4], HasSubstr("agent.yaml:9:"));
}

TEST(AgentConfigFileTest, LoadNamesAMissingFile) {
  absl::StatusOr<AgentConfigFile> config =
      LoadAgentConfigFile("/nonexistent/faultline/agent.yaml", nullptr);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/faultline/agent.yaml"));
  std::vector<Diagnostic> diagnostics;
  config = ParseAgentConfigFile("- a\n- b\n", "list.yaml", &diagnostics);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("list.yaml:1:1: expected a mapping"));
}

}  // namespace
}  // namespace faultline::agent
