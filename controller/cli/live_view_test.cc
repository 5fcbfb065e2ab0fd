#include "controller/cli/live_view.h"

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kT0 = 1'800'000'000'000;  // run start (unix ms)

Event Ev(int64_t offset_ms, const std::string& type, nlohmann::json data) {
  Event e;
  e.run_id = "20261127-180000-gameday-ab12";
  e.unix_ms = kT0 + offset_ms;
  e.type = type;
  e.data = std::move(data);
  return e;
}

Step Wait(milliseconds d) {
  Step s;
  s.kind = StepKind::kWait;
  s.duration = d;
  return s;
}

Step Fault(milliseconds d) {
  Step s;
  s.kind = StepKind::kFault;
  s.duration = d;
  return s;
}

TEST(StepDurationsTest, SerialSumsParallelTakesTheLongest) {
  Step parallel;
  parallel.kind = StepKind::kParallel;
  parallel.steps = {Fault(milliseconds(60000)), Fault(milliseconds(90000))};
  Step serial;
  serial.kind = StepKind::kSerial;
  serial.steps = {Wait(milliseconds(1000)), Wait(milliseconds(2000))};
  auto d = StepDurations({Wait(milliseconds(30000)), parallel, serial});
  EXPECT_EQ(d["1"], milliseconds(30000));
  EXPECT_EQ(d["2"], milliseconds(90000));
  EXPECT_EQ(d["2.1"], milliseconds(60000));
  EXPECT_EQ(d["2.2"], milliseconds(90000));
  EXPECT_EQ(d["3"], milliseconds(3000));
  EXPECT_EQ(d["3.2"], milliseconds(2000));
}

TEST(FormatClockTest, MinutesSecondsAndHours) {
  EXPECT_EQ(FormatClock(0), "0:00");
  EXPECT_EQ(FormatClock(-5000), "0:00");
  EXPECT_EQ(FormatClock(42'000), "0:42");
  EXPECT_EQ(FormatClock(41'001), "0:42");  // rounded up
  EXPECT_EQ(FormatClock(725'000), "12:05");
  EXPECT_EQ(FormatClock(3'723'000), "1:02:03");
}

class LiveViewTest : public ::testing::Test {
 protected:
  LiveViewTest() : view_(Options()) {}
  static LiveViewOptions Options() {
    Step parallel;
    parallel.kind = StepKind::kParallel;
    parallel.steps = {Fault(milliseconds(60000)), Fault(milliseconds(90000))};
    LiveViewOptions o;
    o.step_durations = StepDurations({Wait(milliseconds(30000)), parallel});
    o.notes_from_terminal = true;
    return o;
  }
  std::string Frame(int64_t offset_ms, size_t width = 0) {
    return absl::StrJoin(view_.Render(kT0 + offset_ms, width), "\n");
  }
  LiveView view_;
};

TEST_F(LiveViewTest, ShowsStepTimeLeftFaultsPerHostProbesAndHowToStop) {
  view_.OnEvent(Ev(0, "run.started", {{"experiment", "gameday"}}));
  view_.OnEvent(Ev(5, "plan", {{"steps", 2}, {"duration_ms", 120000}}));
  EXPECT_THAT(Frame(10), HasSubstr("now: connecting to the agents"));
  view_.OnEvent(Ev(50, "probe.result",
                   {{"probe", "checkout"},
                    {"phase", "before"},
                    {"ok", true},
                    {"latency_ms", 12.34},
                    {"detail", "status 200"}}));
  EXPECT_THAT(Frame(60), HasSubstr("now: checking the steady state (before)"));
  view_.OnEvent(Ev(100, "step.started", {{"path", "1"}, {"kind", "wait"}, {"label", "wait 30s"}}));
  std::string frame = Frame(10'100);
  EXPECT_THAT(frame, HasSubstr("== faultline: gameday | run 20261127-180000-gameday-ab12 | 0:11 "
                               "of ~2:00 =="));
  EXPECT_THAT(frame, HasSubstr("step 1/2: wait 30s | time left 0:20"));
  EXPECT_THAT(frame, HasSubstr("active faults: none"));
  EXPECT_THAT(frame, HasSubstr("checkout  ok    12.3 ms  (before) status 200"));
  EXPECT_THAT(frame,
              HasSubstr("Ctrl-C stops and reverts every fault; type a line + Enter to add a note"));

  view_.OnEvent(Ev(30'100, "step.started",
                   {{"path", "2"}, {"kind", "parallel"}, {"label", "parallel (2 steps)"}}));
  view_.OnEvent(Ev(30'110, "step.started",
                   {{"path", "2.1"}, {"kind", "fault"}, {"label", "network.delay on db"}}));
  for (const char* agent : {"db-1", "db-2"}) {
    view_.OnEvent(Ev(30'200, "fault.applied",
                     {{"fault_id", std::string("f.") + agent},
                      {"kind", "network.delay"},
                      {"agent", agent},
                      {"engine", "netem"},
                      {"summary", "delay=200ms"},
                      {"duration_ms", 60000}}));
  }
  view_.OnEvent(Ev(30'300, "fault.applied",
                   {{"fault_id", "f.cpu"},
                    {"kind", "cpu.pressure"},
                    {"agent", "embedded"},
                    {"engine", "cgroup-v1"},
                    {"summary", "load=50"},
                    {"duration_ms", 90000}}));
  view_.OnEvent(Ev(31'000, "probe.result",
                   {{"probe", "checkout"},
                    {"phase", "during"},
                    {"ok", false},
                    {"latency_ms", 1000.0},
                    {"error", "timeout"},
                    {"consecutive_failures", 2}}));
  view_.NoteAdded("alice", "p99 spiking");
  frame = Frame(40'200);
  EXPECT_THAT(frame, HasSubstr("step 2/2: parallel (2 steps) | time left 1:20"));
  EXPECT_THAT(frame, HasSubstr("  latest: step 2.1: network.delay on db"));
  EXPECT_THAT(frame, HasSubstr("active faults (3):\n  db-1:\n    network.delay [netem] delay=200ms "
                               "| 0:50 left\n  db-2:\n    network.delay [netem] delay=200ms | 0:50 "
                               "left\n  local:\n    cpu.pressure [cgroup-v1] load=50 | 1:21 left"));
  EXPECT_THAT(frame, HasSubstr("checkout  FAIL  1000.0 ms  (during) 2 in a row timeout"));
  EXPECT_THAT(frame, HasSubstr("notes: 1 (last: alice: p99 spiking)"));

  view_.OnEvent(Ev(41'000, "fault.reverted", {{"fault_id", "f.db-1"}, {"agent", "db-1"}}));
  view_.OnEvent(Ev(41'500, "abort", {{"reason", "interrupted by SIGINT (Ctrl-C)"}}));
  frame = Frame(41'600);
  EXPECT_THAT(frame, HasSubstr("active faults (2):"));
  EXPECT_THAT(frame, Not(HasSubstr("db-1")));
  EXPECT_THAT(frame,
              HasSubstr("ABORTING: interrupted by SIGINT (Ctrl-C) -- reverting every fault"));
  EXPECT_THAT(frame, HasSubstr("step 2/2: parallel (2 steps) | stopped"));
  view_.OnEvent(Ev(41'700, "fault.reverted", {{"fault_id", "f.db-2"}, {"agent", "db-2"}}));
  view_.OnEvent(Ev(41'700, "fault.reverted", {{"fault_id", "f.cpu"}, {"agent", "embedded"}}));
  view_.OnEvent(Ev(41'800, "abort.reverted", {{"revert_ms", 300}, {"all_reverted", true}}));
  EXPECT_FALSE(view_.finished());
  view_.OnEvent(Ev(42'000, "run.finished",
                   {{"status", "aborted"}, {"verdict", "aborted: interrupted"}, {"exit_code", 3}}));
  EXPECT_TRUE(view_.finished());
  frame = Frame(42'000);
  EXPECT_THAT(frame, HasSubstr("finished: aborted -- aborted: interrupted"));
  EXPECT_THAT(frame, HasSubstr("ABORTED: every fault reverted in 300 ms"));
  EXPECT_THAT(frame, HasSubstr("active faults: none"));
  EXPECT_THAT(frame, Not(HasSubstr("Ctrl-C")));
}

TEST_F(LiveViewTest, GatesDrillMarksAndWidth) {
  view_.OnEvent(Ev(0, "run.started", {{"experiment", "gameday"}}));
  view_.OnEvent(Ev(100, "step.started", {{"path", "1"}, {"kind", "pause"}, {"label", "pause"}}));
  view_.OnEvent(Ev(100, "gate.waiting",
                   {{"path", "1"},
                    {"message", "look at the dashboards"},
                    {"timeout_ms", 600000},
                    {"continue_with", "faultline continue R"}}));
  std::string frame = Frame(60'100);
  EXPECT_THAT(frame, HasSubstr("PAUSED at gate 1: look at the dashboards | continue: faultline "
                               "continue R | times out in 9:00"));
  view_.OnEvent(Ev(70'000, "gate.continued", {{"path", "1"}}));
  view_.OnEvent(Ev(80'000, "drill.detected",
                   {{"alert", "DbLatency"}, {"time_to_detect_ms", 42000}, {"within_ms", 60000}}));
  view_.OnEvent(
      Ev(90'000, "drill.missed",
         {{"expectation", "recover"}, {"probe", "checkout"}, {"reason", "still failing"}}));
  frame = Frame(90'000);
  EXPECT_THAT(frame, Not(HasSubstr("PAUSED")));
  EXPECT_THAT(frame, HasSubstr("drill: detected DbLatency after 0:42 (within 1:00)"));
  EXPECT_THAT(frame, HasSubstr("drill: MISSED recover checkout: still failing"));
  for (const std::string& line : view_.Render(kT0 + 90'000, 20)) EXPECT_LE(line.size(), 20u);
}

TEST_F(LiveViewTest, ControlCharactersFromEventsNeverReachTheTerminal) {
  view_.OnEvent(Ev(0, "run.started", {{"experiment", "x\x1b[2Jy"}}));
  view_.NoteAdded("mallory",
                  "a\x1b]0;pwned\x07 b \xC2\x9B"
                  "31m");
  std::string frame = Frame(1000);
  EXPECT_THAT(frame, Not(HasSubstr("\x1b")));
  EXPECT_THAT(frame, Not(HasSubstr("\x07")));
  EXPECT_THAT(frame, Not(HasSubstr("\xC2\x9B")));
  EXPECT_THAT(frame, HasSubstr("x [2Jy"));
}

}  // namespace
}  // namespace faultline::controller
