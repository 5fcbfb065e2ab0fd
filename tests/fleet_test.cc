// Fleet targeting end to end: three real faultline-agent processes named by
// an inventory with labels; `faultline plan` against them (hosts, engines
// from Capabilities, seeds, an unreachable host, max_targets) and
// `faultline run --dry-run`, which validates on the agents and changes
// nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <set>

#include "controller/run/agent_client.h"
#include "controller/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace faultline::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;

std::string Write(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string path = dir.File(name);
  std::ofstream(path) << body;
  return path;
}

// A loopback port nothing listens on (bound, then closed).
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// The JSON document in `output` (the command's stdout and stderr).
nlohmann::json JsonIn(const std::string& output) {
  size_t start = output.find('{');
  if (start == std::string::npos) return nlohmann::json();
  return nlohmann::json::parse(output.substr(start), nullptr, false);
}

// Every fault of a `plan --json` document, depth first.
void Faults(const nlohmann::json& steps, std::vector<nlohmann::json>* out) {
  for (const nlohmann::json& step : steps) {
    if (step.contains("faults")) {
      for (const nlohmann::json& fault : step["faults"]) out->push_back(fault);
    }
    if (step.contains("steps")) Faults(step["steps"], out);
  }
}

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    victim_ = StartVictim(dir_, victim_name_);
    ASSERT_GT(victim_.pid(), 0);
    const char* names[] = {"web-1", "web-2", "db-1"};
    for (int i = 0; i < 3; ++i) {
      agents_[i] = StartAgent(dir_.File(std::string("state-") + names[i]),
                              dir_.File(std::string(names[i]) + ".log"));
      ASSERT_FALSE(agents_[i].address.empty()) << ReadFile(dir_.File(std::string(names[i]) + ".log"));
    }
  }

  // web-1 (zone a), web-2 (zone b), db-1 (zone a) + `extra` lines.
  std::string Inventory(const std::string& extra = "") {
    return Write(dir_, "fleet.yaml",
                 "agents:\n"
                 "  - {name: web-1, address: \"" + agents_[0].address +
                     "\", labels: {role: web, zone: a}}\n"
                 "  - {name: web-2, address: \"" + agents_[1].address +
                     "\", labels: {role: web, zone: b}}\n"
                 "  - {name: db-1, address: \"" + agents_[2].address +
                     "\", labels: {role: db, zone: a}}\n" + extra);
  }

  // process.pause on one web host and every db host, then cpu.pressure on db
  // in parallel with a wait.
  std::string Experiment(const std::string& extra = "") {
    return Write(dir_, "fleet-exp.yaml",
                 "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: fleet}\n"
                 "inventory: fleet.yaml\nseed: 7\n" + extra +
                 "targets:\n"
                 "  web: {select: {role: web}, count: 1}\n"
                 "  db: {select: {role: db}, all: true}\n"
                 "method:\n"
                 "  - {fault: process.pause, target: [web, db], params: {name: " + victim_name_ +
                     "}, duration: 1s}\n"
                 "  - {wait: 500ms}\n"
                 "  - parallel:\n"
                 "      - {fault: cpu.pressure, target: db, params: {load: 10, workers: 1}, "
                     "duration: 1s}\n"
                 "      - {wait: 1s}\n");
  }

  // Every agent of the fleet reports no active fault.
  void ExpectNoFaultOnAnyAgent() {
    for (const AgentProcess& agent : agents_) {
      controller::AgentClient client("a", agent.address, seconds(2));
      auto listed = client.List("");
      ASSERT_TRUE(listed.ok()) << listed.status();
      EXPECT_EQ(listed->faults_size(), 0) << listed->DebugString();
    }
  }

  // The events of the one run in `journal`; nullopt (and a failure) otherwise.
  std::optional<std::vector<controller::Event>> OnlyRunEvents(const std::string& journal) {
    auto store = controller::OpenSqliteStore(journal);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return std::nullopt;
    auto runs = (*store)->ListRuns(controller::RunFilter());
    EXPECT_TRUE(runs.ok() && runs->size() == 1);
    if (!runs.ok() || runs->size() != 1) return std::nullopt;
    auto events = (*store)->Events(runs->front().run_id);
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) return std::nullopt;
    return *std::move(events);
  }

  int Faultline(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), BinDir() + "/faultline");
    return RunCommand(args, out, seconds(60));
  }

  TempDir dir_;
  std::string victim_name_ = "fl-fleet-" + std::to_string(getpid());
  Child victim_;
  AgentProcess agents_[3];
};

TEST_F(FleetTest, PlanNamesHostsAddressesAndEngines) {
  Inventory();
  std::string file = Experiment();
  std::string out;
  ASSERT_EQ(Faultline({"plan", file}, &out), 0) << out;
  // db-1 gets both faults; exactly one web host gets the pause.
  EXPECT_THAT(out, ContainsRegex("1 +0s +1s +process.pause on web, db +(web-1|web-2) +127"));
  EXPECT_THAT(out, ContainsRegex("db-1 +" + agents_[2].address + " +pidfd"));
  EXPECT_THAT(out, ContainsRegex("3\\.1 +1\\.5s +1s +cpu.pressure on db +db-1 +" +
                                 agents_[2].address + " +stressor"));
  EXPECT_THAT(out, HasSubstr("seed        7 (from the experiment)"));
  EXPECT_THAT(out, HasSubstr("2 hosts, 2 of 2 agents reachable"));
  EXPECT_THAT(out, HasSubstr("-> ready"));

  ASSERT_EQ(Faultline({"plan", file, "--json"}, &out), 0) << out;
  nlohmann::json doc = JsonIn(out);
  ASSERT_TRUE(doc.is_object()) << out;
  EXPECT_EQ(doc["seed"], 7);
  EXPECT_TRUE(doc["ok"].get<bool>());
  std::vector<nlohmann::json> faults;
  Faults(doc["steps"], &faults);
  ASSERT_EQ(faults.size(), 3u) << doc.dump(2);
  std::set<std::string> web_hosts = {"web-1", "web-2"};
  EXPECT_TRUE(web_hosts.count(faults[0]["host"].get<std::string>())) << faults[0];
  EXPECT_EQ(faults[1]["host"], "db-1");
  EXPECT_EQ(faults[1]["address"], agents_[2].address);
  EXPECT_EQ(faults[1]["engine"], "pidfd");
  EXPECT_EQ(faults[2]["host"], "db-1");
  EXPECT_THAT(faults[2]["engine"].get<std::string>(), HasSubstr("stressor"));
  EXPECT_EQ(doc["steps"][2]["steps"][0]["path"], "3.1");
  EXPECT_EQ(doc["steps"][2]["steps"][0]["offset_ms"], 1500);
  // The plan changed nothing: the victim runs.
  EXPECT_NE(ProcessState(victim_.pid()), 'T');
}

TEST_F(FleetTest, SameSeedSameHostsAndSeedsSpreadTheChoice) {
  Inventory();
  std::string file = Experiment();
  auto web_host = [&](const std::string& seed) {
    std::string out;
    EXPECT_EQ(Faultline({"plan", file, "--json", "--no-agents", "--seed", seed}, &out), 0) << out;
    nlohmann::json doc = JsonIn(out);
    return doc.is_object() ? doc["steps"][0]["faults"][0]["host"].get<std::string>() : "";
  };
  std::set<std::string> chosen;
  for (int seed = 1; seed <= 12; ++seed) {
    std::string first = web_host(std::to_string(seed));
    EXPECT_EQ(web_host(std::to_string(seed)), first) << "seed " << seed;
    chosen.insert(first);
  }
  EXPECT_EQ(chosen, (std::set<std::string>{"web-1", "web-2"}));
}

TEST_F(FleetTest, UnreachableOrFrozenAgentExitsThreeWithinTheDeadline) {
  Inventory("  - {name: db-2, address: \"127.0.0.1:" + std::to_string(ClosedPort()) +
            "\", labels: {role: db}}\n");
  std::string file = Experiment();
  std::string out;
  EXPECT_EQ(Faultline({"plan", file}, &out), 3) << out;
  EXPECT_THAT(out, ContainsRegex("db-2 +127\\.0\\.0\\.1:[0-9]+ +unreachable: "));
  EXPECT_THAT(out, HasSubstr("unreachable: db-2"));
  EXPECT_THAT(out, HasSubstr("NOT ready (exit 3)"));
  EXPECT_THAT(out, ContainsRegex("db-1 +" + agents_[2].address + " +pidfd"));

  // A frozen agent answers nothing; the plan still returns after the deadline.
  Inventory();
  agents_[2].child.Signal(SIGSTOP);
  auto start = std::chrono::steady_clock::now();
  int code = Faultline({"plan", file, "--agent-timeout", "500ms", "--json"}, &out);
  auto took = std::chrono::steady_clock::now() - start;
  agents_[2].child.Signal(SIGCONT);
  EXPECT_EQ(code, 3) << out;
  EXPECT_LT(took, seconds(5));
  nlohmann::json doc = JsonIn(out);
  ASSERT_TRUE(doc.is_object()) << out;
  EXPECT_EQ(doc["summary"]["unreachable"], nlohmann::json({"db-1"}));
  EXPECT_EQ(doc["hosts"][1]["error"], "no answer within 500ms") << doc["hosts"].dump();
}

TEST_F(FleetTest, PlansAboveMaxTargetsAreRefused) {
  Inventory("max_targets: 1\n");
  std::string file = Experiment();
  std::string out;
  EXPECT_EQ(Faultline({"plan", file}, &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("plan touches 2 hosts, more than max_targets 1 (inventory "));
  EXPECT_EQ(Faultline({"run", file, "--journal", dir_.File("j.db")}, &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("more than max_targets 1"));

  Inventory();
  file = Experiment("max_targets: 1\n");
  EXPECT_EQ(Faultline({"plan", file, "--no-agents"}, &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("plan touches 2 hosts, more than max_targets 1 (experiment "));
}

TEST_F(FleetTest, InventoryFlagWinsAndLoadErrorsNameTheLine) {
  Inventory();
  std::string file = Experiment();
  std::string other = Write(dir_, "other.yaml",
                            "agents:\n  - {name: only-db, address: \"" + agents_[2].address +
                                "\", labels: {role: db}}\n  - {name: only-web, address: \"" +
                                agents_[0].address + "\", labels: {role: web}}\n");
  std::string out;
  ASSERT_EQ(Faultline({"plan", file, "--inventory", other}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("only-db"));
  EXPECT_THAT(out, HasSubstr("only-web"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("web-2")));

  std::string bad = Write(dir_, "bad.yaml", "agents:\n  - {name: x, labels: {role: db}}\n");
  EXPECT_EQ(Faultline({"plan", file, "--inventory", bad}, &out), 2) << out;
  EXPECT_THAT(out, ContainsRegex("bad\\.yaml:2:[0-9]+: "));
  EXPECT_EQ(Faultline({"run", file, "--inventory", bad, "--journal", dir_.File("j.db")}, &out), 2)
      << out;
  EXPECT_THAT(out, ContainsRegex("bad\\.yaml:2:[0-9]+: "));
}

TEST_F(FleetTest, DryRunValidatesOnTheAgentsAndChangesNothing) {
  Inventory();
  std::string file = Experiment();
  std::string journal = dir_.File("journal.db");
  std::string out;
  ASSERT_EQ(Faultline({"run", file, "--dry-run", "--seed", "3", "--journal", journal}, &out), 0)
      << out;
  EXPECT_NE(ProcessState(victim_.pid()), 'T');
  ExpectNoFaultOnAnyAgent();

  std::optional<std::vector<controller::Event>> events = OnlyRunEvents(journal);
  ASSERT_TRUE(events.has_value());
  std::multiset<std::string> validated_on;
  bool seed_journaled = false;
  for (const auto& e : *events) {
    EXPECT_NE(e.type, "fault.applied") << e.data.dump();
    if (e.type == "fault.validated") validated_on.insert(e.data.value("agent", ""));
    if (e.type == "plan") seed_journaled = e.data.dump().find("\"seed\":3") != std::string::npos;
  }
  EXPECT_TRUE(seed_journaled);
  // One web host and db-1 for the pause, db-1 for cpu.pressure: by inventory name.
  EXPECT_EQ(validated_on.count("db-1"), 2u) << out;
  EXPECT_EQ(validated_on.count("web-1") + validated_on.count("web-2"), 1u) << out;

  // Same seed, same web host as the plan says.
  ASSERT_EQ(Faultline({"plan", file, "--json", "--seed", "3"}, &out), 0) << out;
  nlohmann::json doc = JsonIn(out);
  ASSERT_TRUE(doc.is_object()) << out;
  EXPECT_EQ(validated_on.count(doc["steps"][0]["faults"][0]["host"].get<std::string>()), 1u);
}

// The host owner's limit, not the experiment, decides: db-1's agent allows
// cpu.pressure up to 5% and the experiment asks for 10%. `plan` shows the
// refusal on that host (the agent's dry run names the rule), and `run` stops
// before the first fault anywhere - the pause on the web host included.
TEST_F(FleetTest, HostPolicyRefusalIsShownByPlanAndStopsTheRunBeforeAnyFault) {
  const std::string audit = dir_.File("db-1-audit.jsonl");
  const std::string config =
      Write(dir_, "db-1-agent.yaml",
            "policy: {max_cpu_pct: 5}\naudit_log: " + audit + "\n");
  agents_[2] = StartAgent(dir_.File("state-db-1-policy"), dir_.File("db-1-policy.log"),
                          {"--config", config});
  ASSERT_FALSE(agents_[2].address.empty()) << ReadFile(dir_.File("db-1-policy.log"));
  Inventory();
  std::string file = Experiment();
  std::string out;
  EXPECT_EQ(Faultline({"plan", file}, &out), 3) << out;
  EXPECT_THAT(out, ContainsRegex("db-1 +" + agents_[2].address +
                                 " +refused: .*policy max_cpu_pct \\(5%?\\) refuses"));
  EXPECT_THAT(out, HasSubstr("refused by the host: db-1: cpu.pressure ("));
  EXPECT_THAT(out, HasSubstr("NOT ready (exit 3)"));
  ASSERT_EQ(Faultline({"plan", file, "--json"}, &out), 3) << out;
  nlohmann::json doc = JsonIn(out);
  ASSERT_TRUE(doc.is_object()) << out;
  std::vector<nlohmann::json> faults;
  Faults(doc["steps"], &faults);
  ASSERT_EQ(faults.size(), 3u) << doc.dump(2);
  EXPECT_EQ(faults[1]["status"], "ok") << faults[1];  // the pause is within db-1's policy
  EXPECT_EQ(faults[2]["status"], "refused") << faults[2];
  EXPECT_EQ(faults[2]["code"], "PERMISSION_DENIED");

  const std::string journal = dir_.File("policy.db");
  EXPECT_EQ(Faultline({"run", file, "--journal", journal}, &out), 3) << out;
  EXPECT_THAT(out, HasSubstr("nothing was injected"));
  EXPECT_THAT(out, HasSubstr("policy max_cpu_pct"));
  EXPECT_NE(ProcessState(victim_.pid()), 'T');
  ExpectNoFaultOnAnyAgent();
  std::optional<std::vector<controller::Event>> events = OnlyRunEvents(journal);
  ASSERT_TRUE(events.has_value());
  int refused = 0, journaled_refusals = 0;
  for (const auto& e : *events) {
    EXPECT_NE(e.type, "fault.applied") << e.data.dump();
    if (e.type == "agent.call" && e.data.value("code", "") == "PERMISSION_DENIED") {
      ++journaled_refusals;
      EXPECT_EQ(e.data.value("rpc", ""), "Apply");
      EXPECT_TRUE(e.data.value("dry_run", false));
      EXPECT_EQ(e.data.value("identity", ""), "plaintext");
    }
    if (e.type == "agent.refused") {
      ++refused;
      EXPECT_EQ(e.data.value("agent", ""), "db-1");
      EXPECT_EQ(e.data.value("code", ""), "PERMISSION_DENIED");
    }
  }
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(journaled_refusals, 1);

  // db-1's audit log: only dry runs reached it (2 plans + the run's
  // preflight), and every cpu.pressure one was refused.
  std::ifstream lines(audit);
  std::string line;
  int cpu_refusals = 0;
  while (std::getline(lines, line)) {
    nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(entry.is_object()) << line;
    if (entry.value("rpc", "") != "Apply") continue;
    EXPECT_TRUE(entry.value("dry_run", false)) << line;
    if (entry.value("kind", "") == "cpu.pressure") {
      EXPECT_EQ(entry.value("code", ""), "PERMISSION_DENIED") << line;
      ++cpu_refusals;
    }
  }
  EXPECT_EQ(cpu_refusals, 3);
}

}  // namespace
}  // namespace faultline::testing
