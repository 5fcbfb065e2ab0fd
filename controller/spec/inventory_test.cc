// Inventory files: agents with names, addresses, labels and server names,
// max_targets, tls (paths resolved against the file's directory); exact diagnostics for bad input; LoadInventory's file
// errors.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controller/spec/experiment.h"
#include "controller/spec/spec_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

std::vector<BadCase> BadCases() {
  return {
      {"Empty", "", {"inv.yaml:1:1: inventory file is empty"}},
      {"NotAMapping",
       "- a\n",
       {"inv.yaml:1:1: expected a mapping at the top level of the inventory, got a sequence"}},
      {"AgentsMissing",
       "max_targets: 3\n",
       {"inv.yaml:1:1: missing required field \"agents\" in inventory"}},
      {"AgentsEmpty", "agents: []\n", {"inv.yaml:1:9: agents must list at least one agent"}},
      {"AgentsNotAList",
       "agents: {name: a}\n",
       {"inv.yaml:1:9: agents: expected a sequence, got a mapping"}},
      {"AgentNotAMapping",
       "agents: [web-1]\n",
       {"inv.yaml:1:10: agents[0]: expected a mapping, got \"web-1\""}},
      {"AgentMissingFields",
       "agents:\n  - {labels: {}}\n",
       {"inv.yaml:2:5: missing required field \"name\" in agents[0]",
        "inv.yaml:2:5: missing required field \"address\" in agents[0]"}},
      {"BadNames",
       "agents:\n  - {name: Web-1, address: \"h:1\"}\n  - {name: \"web 2\", address: \"h:2\"}\n  - "
       "{name: web-3., address: \"h:3\"}\n  - {name: -web, address: \"h:4\"}\n  - {name: embedded, "
       "address: \"h:5\"}\n",
       {"inv.yaml:2:12: agents[0].name must be 1..253 lowercase letters, digits, '-', '_' and '.', "
        "starting with a letter or digit and not ending with '.', got \"Web-1\"",
        "inv.yaml:3:12: agents[1].name must be 1..253 lowercase letters, digits, '-', '_' and '.', "
        "starting with a letter or digit and not ending with '.', got \"web 2\"",
        "inv.yaml:4:12: agents[2].name must be 1..253 lowercase letters, digits, '-', '_' and '.', "
        "starting with a letter or digit and not ending with '.', got \"web-3.\"",
        "inv.yaml:5:12: agents[3].name must be 1..253 lowercase letters, digits, '-', '_' and '.', "
        "starting with a letter or digit and not ending with '.', got \"-web\"",
        "inv.yaml:6:12: agents[4].name \"embedded\" is reserved for the embedded local agent"}},
      {"DuplicateNamesAndAddresses",
       "agents:\n  - {name: web-1, address: \"127.0.0.1:7431\"}\n  - {name: web-1, address: "
       "\"127.0.0.1:7432\"}\n  - {name: web-2, address: \"127.0.0.1:7431\"}\n",
       {"inv.yaml:3:12: duplicate agent name \"web-1\" (first at 2:12)",
        "inv.yaml:4:28: agent \"web-2\": address \"127.0.0.1:7431\" is already used by another "
        "agent (at 2:28)"}},
      {"BadAddresses",
       "agents:\n  - {name: a, address: \"h\"}\n  - {name: b, address: \"unix:rel.sock\"}\n  - "
       "{name: c, address: \"h:0\"}\n  - {name: d, address: [h, 1]}\n",
       {"inv.yaml:2:24: agent \"a\": address must be host:port with port 1..65535 or unix:/path, "
        "got \"h\"",
        "inv.yaml:3:24: agent \"b\": address must be host:port with port 1..65535 or unix:/path, "
        "got \"unix:rel.sock\"",
        "inv.yaml:4:24: agent \"c\": address must be host:port with port 1..65535 or unix:/path, "
        "got \"h:0\"",
        "inv.yaml:5:24: agent \"d\": address must be a string, got a sequence"}},
      {"BadLabels",
       "agents:\n  - {name: a, address: \"h:1\", labels: {role: [web], \"a b\": x}}\n  - {name: b, "
       "address: \"h:2\", labels: web}\n",
       {"inv.yaml:2:46: agent \"a\": labels.role must be a string, got a sequence",
        "inv.yaml:2:53: agent \"a\": labels: label name \"a b\" must be 1..63 letters, digits, "
        "'-', '_', '.' and '/', starting with a letter or digit",
        "inv.yaml:3:39: agent \"b\": labels: expected a mapping, got \"web\""}},
      {"MaxTargetsZero",
       "agents: [{name: a, address: \"h:1\"}]\nmax_targets: 0\n",
       {"inv.yaml:2:14: max_targets must be an integer of at least 1, got 0"}},
      {"TlsFilesNotTogether",
       "agents: [{name: a, address: \"h:1\"}]\ntls: {ca: ca.pem}\n",
       {"inv.yaml:2:6: tls needs ca, cert and key together; missing cert, key"}},
      {"TlsServerNameAlone",
       "agents: [{name: a, address: \"h:1\"}]\ntls: {server_name: agents.example}\n",
       {"inv.yaml:2:6: tls needs ca, cert and key (server_name alone cannot secure anything); "
        "leave tls: {} for plaintext"}},
      {"TlsBadValues",
       "agents: [{name: a, address: \"h:1\", server_name: [x]}]\n"
       "tls: {ca: \"\", cert: [c], key: k, sever_name: x}\n",
       {"inv.yaml:1:49: agent \"a\": server_name must be a string, got a sequence",
        "inv.yaml:2:11: tls.ca must be a file path, got \"\"",
        "inv.yaml:2:21: tls.cert must be a string, got a sequence",
        "inv.yaml:2:34: unknown field \"sever_name\" in tls (did you mean \"server_name\"?)"}},
      {"TlsNotAMapping",
       "agents: [{name: a, address: \"h:1\"}]\ntls: true\n",
       {"inv.yaml:2:6: tls: expected a mapping, got \"true\""}},
      {"UnknownFields",
       "agents: [{name: a, adress: \"h:1\"}]\nmax_target: 3\n",
       {"inv.yaml:1:10: missing required field \"address\" in agents[0]",
        "inv.yaml:1:20: unknown field \"adress\" in agents[0] (did you mean \"address\"?)",
        "inv.yaml:2:1: unknown field \"max_target\" in inventory (did you mean \"max_targets\"?)"}},
  };
}

class InventoryBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(InventoryBadInputTest, ReportsExactDiagnostics) {
  const BadCase& c = GetParam();
  EXPECT_THAT(InventoryProblems(c.yaml), ::testing::ElementsAreArray(c.expected)) << c.yaml;
}

INSTANTIATE_TEST_SUITE_P(Inventory, InventoryBadInputTest, ::testing::ValuesIn(BadCases()),
                         CaseName);

TEST(InventoryTest, ParsesAgentsLabelsAndLimits) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Inventory> inventory = ParseInventory(R"(agents:
  - {name: web-1, address: "127.0.0.1:7431", labels: {role: web, zone: a}}
  - name: db-1.dc1
    address: "[::1]:7431"
    labels: {role: db}
  - {name: local_0, address: "unix:/run/faultline/agent.sock"}
max_targets: 20
tls: {}
)",
                                                       "fleet.yaml", &diagnostics);
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  EXPECT_TRUE(diagnostics.empty());
  EXPECT_EQ(inventory->path, "fleet.yaml");
  EXPECT_EQ(inventory->max_targets, 20);
  ASSERT_EQ(inventory->agents.size(), 3u);
  const InventoryAgent& web = inventory->agents[0];
  EXPECT_EQ(web.name, "web-1");
  EXPECT_EQ(web.address, "127.0.0.1:7431");
  EXPECT_THAT(web.labels, UnorderedElementsAre(Pair("role", "web"), Pair("zone", "a")));
  EXPECT_EQ(web.where.file, "fleet.yaml");
  EXPECT_EQ(web.where.line, 2);
  EXPECT_EQ(web.where.column, 5);
  EXPECT_EQ(inventory->agents[1].name, "db-1.dc1");
  EXPECT_EQ(inventory->agents[1].address, "[::1]:7431");
  EXPECT_THAT(inventory->agents[1].labels, ElementsAre(Pair("role", "db")));
  EXPECT_EQ(inventory->agents[2].name, "local_0");
  EXPECT_TRUE(inventory->agents[2].labels.empty());
}

TEST(InventoryTest, TlsPathsAreResolvedAgainstTheInventorysDirectory) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Inventory> inventory = ParseInventory(R"(agents:
  - {name: web-1, address: "127.0.0.1:7431", server_name: web-1.agents.example}
  - {name: web-2, address: "127.0.0.1:7432"}
tls:
  ca: tls/ca.pem
  cert: /etc/faultline/controller.pem
  key: ../keys/controller.key
  server_name: agents.example
)",
                                                       "/srv/fleets/prod.yaml", &diagnostics);
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  EXPECT_TRUE(inventory->tls.enabled());
  EXPECT_EQ(inventory->tls.ca, "/srv/fleets/tls/ca.pem");
  EXPECT_EQ(inventory->tls.cert, "/etc/faultline/controller.pem");
  EXPECT_EQ(inventory->tls.key, "/srv/fleets/../keys/controller.key");
  EXPECT_EQ(inventory->tls.server_name, "agents.example");
  EXPECT_EQ(inventory->tls.where.line, 5);
  EXPECT_EQ(inventory->agents[0].server_name, "web-1.agents.example");
  EXPECT_EQ(inventory->agents[1].server_name, "");
}

TEST(InventoryTest, EmptyTlsAndNoTlsArePlaintext) {
  for (const char* text : {"agents: [{name: a, address: \"h:1\"}]\n",
                           "agents: [{name: a, address: \"h:1\"}]\ntls: {}\n"}) {
    absl::StatusOr<Inventory> inventory = ParseInventory(text, "inv.yaml", nullptr);
    ASSERT_TRUE(inventory.ok()) << inventory.status();
    EXPECT_FALSE(inventory->tls.enabled()) << text;
  }
  // A file name without a directory leaves relative paths relative (to the
  // working directory).
  absl::StatusOr<Inventory> inventory = ParseInventory(
      "agents: [{name: a, address: \"h:1\"}]\ntls: {ca: c.pem, cert: x.pem, key: x.key}\n",
      "inv.yaml", nullptr);
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  EXPECT_EQ(inventory->tls.ca, "c.pem");
}

TEST(InventoryTest, DefaultsAndStatusMessage) {
  absl::StatusOr<Inventory> inventory =
      ParseInventory("agents: [{name: a, address: \"h:1\"}]\n", "inv.yaml", nullptr);
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  EXPECT_EQ(inventory->max_targets, 0);

  std::vector<Diagnostic> diagnostics = {{{"earlier.yaml", 1, 1}, "kept"}};
  inventory = ParseInventory("agents: []\nfoo: 1\n", "inv.yaml", &diagnostics);
  ASSERT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(inventory.status().message(),
            "inv.yaml:1:9: agents must list at least one agent (and 1 more problem)");
  ASSERT_EQ(diagnostics.size(), 3u);  // appended, sorted by position
  EXPECT_EQ(diagnostics[1].ToString(), "inv.yaml:1:9: agents must list at least one agent");
  EXPECT_EQ(diagnostics[2].ToString(), "inv.yaml:2:1: unknown field \"foo\" in inventory");
}

TEST(LoadInventoryTest, MissingFileIsNotFound) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Inventory> inventory =
      LoadInventory("/nonexistent/faultline/fleet.yaml", &diagnostics);
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(inventory.status().message(), HasSubstr("/nonexistent/faultline/fleet.yaml"));
  EXPECT_TRUE(diagnostics.empty());
}

TEST(LoadInventoryTest, DirectoryIsInvalidArgument) {
  EXPECT_EQ(LoadInventory("/", nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    const int fd = mkstemp(path_);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
  }
  ~TempFile() { std::remove(path_); }
  std::string path() const { return path_; }

 private:
  char path_[40] = "/tmp/faultline-inventory-test-XXXXXX";
};

TEST(LoadInventoryTest, ReadsAndParsesAFile) {
  TempFile file("agents:\n  - {name: a, address: \"127.0.0.1:7431\", labels: {role: web}}\n");
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Inventory> inventory = LoadInventory(file.path(), &diagnostics);
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  EXPECT_EQ(inventory->path, file.path());
  ASSERT_EQ(inventory->agents.size(), 1u);
  EXPECT_EQ(inventory->agents[0].address, "127.0.0.1:7431");
}

TEST(LoadInventoryTest, BadFileReportsPositionsInThatFile) {
  TempFile file("agents:\n  - {name: a}\n");
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Inventory> inventory = LoadInventory(file.path(), &diagnostics);
  ASSERT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].ToString(),
            absl::StrCat(file.path(), ":2:5: missing required field \"address\" in agents[0]"));
}

TEST(LoadInventoryTest, LargerThanOneMebibyteIsRefused) {
  TempFile file(std::string((1 << 20) + 1, '#'));
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Inventory> inventory = LoadInventory(file.path(), &diagnostics);
  ASSERT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].message, "inventory file is larger than 1 MiB");
}

}  // namespace
}  // namespace faultline::controller
