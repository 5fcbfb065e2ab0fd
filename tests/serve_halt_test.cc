// `faultline halt` with one agent frozen by SIGSTOP: the call returns within
// the per-agent deadline (plus a small margin), names the frozen host, and
// every other host has its faults reverted (victims really resume). Through
// serve it also stops the active run and refuses new runs - across a restart
// of serve - until `faultline halt --release`.
#include <signal.h>
#include <unistd.h>

#include "controller/run/agent_client.h"
#include "controller/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/serve_harness.h"

namespace faultline::testing {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Halt must return within the deadline plus this (CLI start-up, gRPC, the
// report); generous for a loaded 2-core CI machine, far below a second
// deadline.
constexpr milliseconds kMargin{1500};
constexpr milliseconds kDeadline{2000};

class ServeHaltTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string tag = std::to_string(getpid() % 100000);
    for (int i = 0; i < 3; ++i) {
      std::string name = i < 2 ? "web-" + std::to_string(i + 1) : "db-1";
      agents_.push_back(StartAgent(dir_.File("agent" + std::to_string(i)),
                                   dir_.File("agent" + std::to_string(i) + ".log")));
      ASSERT_FALSE(agents_.back().address.empty());
      victims_.push_back(StartVictim(dir_, "flhalt" + std::to_string(i) + "v" + tag));
      names_.push_back(name);
    }
    inventory_ = WriteFile(dir_, "fleet.yaml",
                           "agents:\n"
                           "  - {name: web-1, address: \"" + agents_[0].address +
                               "\", labels: {role: web, slot: a}}\n"
                               "  - {name: web-2, address: \"" + agents_[1].address +
                               "\", labels: {role: web, slot: b}}\n"
                               "  - {name: db-1, address: \"" + agents_[2].address +
                               "\", labels: {role: db}}\n");
  }

  void TearDown() override {
    if (frozen_) agents_[2].child.Signal(SIGCONT);
    // The agents revert whatever is left on SIGTERM.
    for (AgentProcess& a : agents_) {
      a.child.Signal(SIGTERM);
      a.child.Wait(seconds(10));
    }
  }

  // Pauses victim i through agent i directly (a run of someone else).
  void Pause(int i, const std::string& run) {
    controller::AgentClient client(names_[i], agents_[i].address, seconds(10));
    v1::ApplyRequest request;
    request.set_fault_id(run + "." + names_[i]);
    request.set_run_id(run);
    request.mutable_spec()->mutable_process_pause()->mutable_target()->set_pid(victims_[i].pid());
    request.set_duration_ms(300000);
    request.set_lease_ttl_ms(300000);
    auto applied = client.Apply(request);
    ASSERT_TRUE(applied.ok()) << applied.status();
  }

  bool Paused(int i) { return ProcessState(victims_[i].pid()) == 'T'; }

  void Freeze() {
    agents_[2].child.Signal(SIGSTOP);
    frozen_ = true;
  }

  TempDir dir_;
  std::vector<AgentProcess> agents_;
  std::vector<Child> victims_;
  std::vector<std::string> names_;
  std::string inventory_;
  bool frozen_ = false;
};

TEST_F(ServeHaltTest, StandaloneHaltReportsTheFrozenHostWithinTheDeadline) {
  for (int i = 0; i < 3; ++i) Pause(i, "game-day");
  ASSERT_TRUE(Eventually([&] { return Paused(0) && Paused(1) && Paused(2); }, seconds(10)));
  Freeze();

  std::string out;
  auto start = std::chrono::steady_clock::now();
  int rc = Faultline({"halt", "--inventory", inventory_, "--deadline", "2s", "--reason", "drill"},
                     &out, seconds(30));
  auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  std::cout << "standalone halt with one frozen agent took " << elapsed.count()
            << " ms (deadline " << kDeadline.count() << " ms)\n"
            << out;
  EXPECT_EQ(rc, 3) << out;
  EXPECT_LT(elapsed, kDeadline + kMargin);
  EXPECT_THAT(out, HasSubstr("web-1  " + agents_[0].address +
                             "  ok, reverted 1 fault: game-day.web-1 (process.pause, run "
                             "game-day)"));
  EXPECT_THAT(out, HasSubstr("web-2  " + agents_[1].address + "  ok, reverted 1 fault"));
  EXPECT_THAT(out, HasSubstr("db-1   " + agents_[2].address + "  FAILED: timed out after 2s"));
  EXPECT_THAT(out, HasSubstr("halt: 2 of 3 hosts ok, 1 failed"));
  EXPECT_FALSE(Paused(0));
  EXPECT_FALSE(Paused(1));
  EXPECT_TRUE(Paused(2));  // its agent is frozen; it reverts once it runs again

  agents_[2].child.Signal(SIGCONT);
  frozen_ = false;
  rc = Faultline({"halt", "--inventory", inventory_, "--deadline", "2s"}, &out, seconds(30));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("halt: 3 of 3 hosts ok"));
  ASSERT_TRUE(Eventually([&] { return !Paused(2); }, seconds(5)));
}

TEST_F(ServeHaltTest, HaltThroughServeStopsTheRunAndRefusesRunsUntilReleased) {
  std::string experiment = WriteFile(
      dir_, "pause.yaml",
      "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: web-pause}\n"
      "inventory: fleet.yaml\n"
      "targets:\n  a: {select: {slot: a}, all: true}\n  b: {select: {slot: b}, all: true}\n"
      "method:\n  - parallel:\n"
      "      - {fault: process.pause, target: a, params: {pid: " +
          std::to_string(victims_[0].pid()) + "}, duration: 5m}\n" +
          "      - {fault: process.pause, target: b, params: {pid: " +
          std::to_string(victims_[1].pid()) + "}, duration: 5m}\n");
  std::string quick =
      WriteFile(dir_, "quick.yaml",
                "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: quick}\n"
                "targets:\n  web: {select: {role: web}, all: true}\nmethod:\n  - wait: 100ms\n");
  std::string config = WriteFile(dir_, "serve.yaml",
                                 "listen: 127.0.0.1:0\njournal: journal.db\ninventory: fleet.yaml\n"
                                 "halt_deadline: 2s\nembedded_dir: embedded\n");
  ServeProcess serve = StartServe(dir_, config, dir_.File("serve.log"));
  ASSERT_FALSE(serve.address.empty()) << ReadFile(dir_.File("serve.log"));

  std::string out;
  ASSERT_EQ(Faultline({"submit", experiment, "--server", serve.address}, &out), 0) << out;
  std::string run_id = out.substr(0, out.find('\n'));
  ASSERT_TRUE(Eventually([&] { return Paused(0) && Paused(1); }, seconds(15)))
      << ReadFile(dir_.File("serve.log"));
  Pause(2, "someone-else");
  ASSERT_TRUE(Eventually([&] { return Paused(2); }, seconds(5)));
  Freeze();

  auto start = std::chrono::steady_clock::now();
  int rc = Faultline({"halt", "--server", serve.address, "--deadline", "2s", "--reason",
                      "checkout down", "--by", "alice"},
                     &out, seconds(30));
  auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  std::cout << "halt through serve with one frozen agent took " << elapsed.count() << " ms\n"
            << out;
  EXPECT_EQ(rc, 3) << out;
  EXPECT_LT(elapsed, kDeadline + kMargin);
  EXPECT_THAT(out, HasSubstr("halted by alice: checkout down"));
  EXPECT_THAT(out, HasSubstr("stopped runs: " + run_id));
  EXPECT_THAT(out, HasSubstr("db-1   " + agents_[2].address + "  FAILED: timed out after 2s"));
  // The halt reached the agents before the stopped run reverted by itself.
  EXPECT_THAT(out, HasSubstr("web-1  " + agents_[0].address + "  ok, reverted 1 fault: "));
  EXPECT_THAT(out, HasSubstr("web-2  " + agents_[1].address + "  ok, reverted 1 fault: "));
  EXPECT_THAT(out, HasSubstr("(process.pause, run " + run_id + ")"));
  EXPECT_THAT(out, HasSubstr("faultline halt --release --server " + serve.address));
  EXPECT_FALSE(Paused(0));
  EXPECT_FALSE(Paused(1));

  auto store = controller::OpenSqliteStore(dir_.File("journal.db"));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(Eventually(
      [&] {
        auto run = (*store)->GetRun(run_id);
        return run.ok() && run->status == controller::RunStatus::kAborted && run->exit_code == 3;
      },
      seconds(20)));

  // Refused while halted, also after a restart of serve.
  EXPECT_EQ(Faultline({"submit", quick, "--server", serve.address}, &out), 3) << out;
  EXPECT_THAT(out, HasSubstr("halted by alice at "));
  EXPECT_THAT(out, HasSubstr(": checkout down; run faultline halt --release"));
  StopServe(serve);
  serve = StartServe(dir_, config, dir_.File("serve2.log"));
  ASSERT_FALSE(serve.address.empty()) << ReadFile(dir_.File("serve2.log"));
  EXPECT_EQ(Faultline({"submit", quick, "--server", serve.address}, &out), 3) << out;
  EXPECT_THAT(out, HasSubstr("halted by alice at "));

  ASSERT_EQ(Faultline({"halt", "--release", "--server", serve.address}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("released"));
  EXPECT_EQ(Faultline({"submit", quick, "--server", serve.address, "--wait"}, &out), 0) << out;
  StopServe(serve);
}

}  // namespace
}  // namespace faultline::testing
