#include "controller/notify/notifier.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "controller/probes/test_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Event Ev(const std::string& type, nlohmann::json data, int64_t unix_ms = 1'700'000'000'000) {
  Event e;
  e.run_id = "20261127-180000-gameday-ab12";
  e.unix_ms = unix_ms;
  e.type = type;
  e.data = std::move(data);
  return e;
}

// A run as the Runner journals it: two hosts, one fault each.
std::vector<Event> SyntheticRun() {
  return {
      Ev("run.started", {{"experiment", "gameday"},
                         {"dry_run", false},
                         {"hypothesis", "checkout survives <200ms> db latency"},
                         {"roles", {{"incident_commander", "alice"}}}}),
      Ev("plan", {{"steps", 1}}),
      Ev("agent.ready", {{"agent", "db-1"}}),
      Ev("step.started", {{"path", "1"}, {"kind", "fault"}, {"label", "network.delay on db"}}),
      Ev("fault.applied", {{"fault_id", "r.s1.0"},
                           {"kind", "network.delay"},
                           {"agent", "db-1"},
                           {"target", "db"},
                           {"engine", "netem"},
                           {"summary", "delay=200ms"},
                           {"duration_ms", 60000}}),
      Ev("fault.applied", {{"fault_id", "r.s1.1"},
                           {"kind", "network.delay"},
                           {"agent", "db-2"},
                           {"target", "db"},
                           {"engine", "nfqueue"},
                           {"summary", "delay=200ms"},
                           {"duration_ms", 60000}}),
      Ev("probe.result", {{"probe", "checkout"}, {"ok", true}}),
      Ev("fault.reverted", {{"fault_id", "r.s1.0"},
                            {"kind", "network.delay"},
                            {"agent", "db-1"},
                            {"reason", "duration"}}),
      Ev("fault.reverted", {{"fault_id", "r.s1.1"},
                            {"kind", "network.delay"},
                            {"agent", "db-2"},
                            {"reason", "duration"}}),
      Ev("run.finished",
         {{"status", "passed"}, {"exit_code", 0}, {"verdict", "steady state held"}}),
  };
}

std::string FieldText(const nlohmann::json& body, int i) {
  return body["blocks"][1]["fields"][i]["text"].get<std::string>();
}

TEST(UpdateFormatterTest, UpdatesSayWhatStatusActionsAndNext) {
  UpdateFormatter formatter;
  std::vector<nlohmann::json> updates;
  for (const Event& e : SyntheticRun()) {
    if (auto body = formatter.Format(e)) updates.push_back(*body);
  }
  std::vector<std::string> events;
  for (const auto& u : updates) events.push_back(u["faultline"]["event"]);
  EXPECT_EQ(events, (std::vector<std::string>{"run.started", "fault.applied", "fault.applied",
                                              "fault.reverted", "fault.reverted", "run.finished"}));
  for (const auto& u : updates) {
    ASSERT_TRUE(u["text"].is_string());
    EXPECT_THAT(u["text"].get<std::string>(), HasSubstr("20261127-180000-gameday-ab12"));
    EXPECT_THAT(u["text"].get<std::string>(), Not(HasSubstr("\n")));
    ASSERT_EQ(u["blocks"].size(), 2u) << u.dump();
    ASSERT_EQ(u["blocks"][1]["fields"].size(), 4u);
    EXPECT_THAT(FieldText(u, 0), HasSubstr("*What is happening*\n"));
    EXPECT_THAT(FieldText(u, 1), HasSubstr("*Current status*\n"));
    EXPECT_THAT(FieldText(u, 2), HasSubstr("*Actions taken*\n"));
    EXPECT_THAT(FieldText(u, 3), HasSubstr("*Next step*\n"));
    EXPECT_EQ(u["blocks"][1]["fields"][0]["type"], "mrkdwn");
  }
  // mrkdwn control characters are escaped.
  EXPECT_THAT(FieldText(updates[0], 0), HasSubstr("survives &lt;200ms&gt; db"));
  EXPECT_THAT(FieldText(updates[0], 0), HasSubstr("incident_commander: alice"));
  EXPECT_THAT(FieldText(updates[1], 0), HasSubstr("network.delay on db-1"));
  EXPECT_THAT(FieldText(updates[1], 2), HasSubstr("via netem"));
  EXPECT_THAT(FieldText(updates[1], 3), HasSubstr("held for 1m"));
  EXPECT_THAT(FieldText(updates[2], 1), HasSubstr("2 faults active (db-1: network.delay; db-2: "
                                                  "network.delay)"));
  EXPECT_EQ(updates[2]["faultline"]["active_faults"], 2);
  EXPECT_THAT(FieldText(updates[4], 1), HasSubstr("no faults active"));
  EXPECT_THAT(updates[5]["text"].get<std::string>(), HasSubstr("finished: passed"));
  EXPECT_THAT(FieldText(updates[5], 3), HasSubstr("faultline report 20261127-180000-gameday-ab12"));
}

TEST(UpdateFormatterTest, RampPhasesAndFlapCyclesAreFolded) {
  UpdateFormatter formatter;
  formatter.Format(Ev("run.started", {{"experiment", "ramp"}}));
  auto phase0 = formatter.Format(
      Ev("fault.applied",
         {{"fault_id", "f.0"}, {"kind", "cpu.pressure"}, {"phase", 0}, {"ramp", "load"}}));
  EXPECT_TRUE(phase0.has_value());
  EXPECT_FALSE(formatter.Format(
      Ev("fault.reverted", {{"fault_id", "f.0"}, {"reason", "next ramp phase 2/3"}})));
  EXPECT_FALSE(formatter.Format(Ev("fault.applied", {{"fault_id", "f.1"}, {"phase", 1}})));
  EXPECT_FALSE(
      formatter.Format(Ev("fault.reverted", {{"fault_id", "f.1"}, {"reason", "flap off"}})));
  EXPECT_FALSE(formatter.Format(Ev("probe.result", {{"probe", "x"}})));
  EXPECT_FALSE(formatter.Format(Ev("note", {{"text", "x"}})));
  auto abort = formatter.Format(Ev("abort", {{"reason", "interrupted by SIGINT (Ctrl-C)"}}));
  ASSERT_TRUE(abort.has_value());
  EXPECT_THAT(FieldText(*abort, 0), HasSubstr("Run aborting: interrupted by SIGINT"));
  auto missed = formatter.Format(Ev("drill.missed", {{"expectation", "detect"},
                                                     {"alert", "DbLatency"},
                                                     {"within_ms", 60000},
                                                     {"reason", "not firing"}}));
  ASSERT_TRUE(missed.has_value());
  EXPECT_THAT(FieldText(*missed, 0), HasSubstr("detect `DbLatency` not within 1m"));
}

TEST(RedactUrlTest, KeepsSchemeAndHostOnly) {
  EXPECT_EQ(RedactUrl("https://hooks.slack.com/services/T0/B0/s3cr3t"), "https://hooks.slack.com");
  EXPECT_EQ(RedactUrl("http://user:pw@127.0.0.1:9000/hook?token=x"), "http://127.0.0.1:9000");
  EXPECT_EQ(RedactUrl("https://example.org"), "https://example.org");
}

TEST(NotifierTest, RefusesUrlsThatAreNotHttp) {
  for (const char* url :
       {"ftp://example.org/x", "not a url", "", "http://", "file:///etc/passwd"}) {
    NotifySpec spec;
    spec.webhook = url;
    auto notifier = Notifier::Create(spec);
    EXPECT_EQ(notifier.status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
  NotifySpec secret;
  secret.webhook = "https://";
  EXPECT_THAT(std::string(Notifier::Create(secret).status().message()), HasSubstr("http"));
}

// Collects the bodies POSTed to /hook.
class Receiver {
 public:
  Receiver() {
    server_.server().Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      int n = 0;
      {
        std::lock_guard lock(mu_);
        bodies_.push_back(req.body);
        content_types_.push_back(req.get_header_value("Content-Type"));
        n = static_cast<int>(bodies_.size());
      }
      if (n <= fail_first_) {
        res.status = 500;
        return;
      }
      while (hang_ && !release_) std::this_thread::sleep_for(milliseconds(10));
      res.set_content("ok", "text/plain");
    });
    server_.Start();
  }
  ~Receiver() { release_ = true; }
  std::string Url() const { return server_.Url("/hook"); }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }
  std::vector<std::string> content_types() {
    std::lock_guard lock(mu_);
    return content_types_;
  }
  std::atomic<int> fail_first_{0};
  std::atomic<bool> hang_{false};
  std::atomic<bool> release_{false};

 private:
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::vector<std::string> content_types_;
  LocalServer server_;  // last: stopped first
};

NotifierOptions Fast() {
  NotifierOptions o;
  o.request_timeout = milliseconds(2000);
  o.backoff = milliseconds(20);
  return o;
}

TEST(NotifierTest, PostsEveryUpdateInOrder) {
  Receiver receiver;
  NotifySpec spec;
  spec.webhook = receiver.Url();
  auto notifier = Notifier::Create(spec, Fast());
  ASSERT_TRUE(notifier.ok()) << notifier.status();
  for (const Event& e : SyntheticRun()) (*notifier)->OnEvent(e);
  (*notifier)->Close(SteadyClock::now() + std::chrono::seconds(10));
  std::vector<std::string> events;
  for (const std::string& body : receiver.bodies()) {
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << body;
    events.push_back(j["faultline"]["event"]);
  }
  EXPECT_EQ(events, (std::vector<std::string>{"run.started", "fault.applied", "fault.applied",
                                              "fault.reverted", "fault.reverted", "run.finished"}));
  for (const std::string& type : receiver.content_types()) EXPECT_EQ(type, "application/json");
  NotifierStats stats = (*notifier)->stats();
  EXPECT_EQ(stats.sent, 6);
  EXPECT_EQ(stats.failed, 0);
  EXPECT_EQ(stats.dropped, 0);
  // Closed: later events are not sent.
  (*notifier)->OnEvent(SyntheticRun().front());
  EXPECT_EQ(receiver.bodies().size(), 6u);
}

TEST(NotifierTest, RetriesAfterAServerError) {
  Receiver receiver;
  receiver.fail_first_ = 1;  // 500, then 200
  NotifySpec spec;
  spec.webhook = receiver.Url();
  auto notifier = Notifier::Create(spec, Fast());
  ASSERT_TRUE(notifier.ok());
  (*notifier)->OnEvent(SyntheticRun().front());
  (*notifier)->Close(SteadyClock::now() + std::chrono::seconds(10));
  std::vector<std::string> bodies = receiver.bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0], bodies[1]);
  NotifierStats stats = (*notifier)->stats();
  EXPECT_EQ(stats.sent, 1);
  EXPECT_EQ(stats.retries, 1);
  EXPECT_EQ(stats.failed, 0);
}

TEST(NotifierTest, GivesUpAfterItsAttemptsOnADeadWebhook) {
  // A port nobody listens on (bound, then closed).
  int port = 0;
  {
    LocalServer gone;
    port = gone.Start();
  }
  NotifySpec spec;
  spec.webhook = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  auto notifier = Notifier::Create(spec, Fast());
  ASSERT_TRUE(notifier.ok());
  (*notifier)->OnEvent(SyntheticRun().front());
  (*notifier)->Close(SteadyClock::now() + std::chrono::seconds(10));
  NotifierStats stats = (*notifier)->stats();
  EXPECT_EQ(stats.sent, 0);
  EXPECT_EQ(stats.failed, 1);
  EXPECT_EQ(stats.retries, 2);  // 3 attempts
}

TEST(NotifierTest, HangingWebhookBlocksNeitherEventsNorClose) {
  Receiver receiver;
  receiver.hang_ = true;
  NotifySpec spec;
  spec.webhook = receiver.Url();
  NotifierOptions options = Fast();
  options.max_queue = 4;
  options.request_timeout = milliseconds(30000);
  auto notifier = Notifier::Create(spec, options);
  ASSERT_TRUE(notifier.ok());
  // The first update is in flight (hanging); the rest fill and overflow the queue.
  std::vector<SteadyClock::duration> took;
  for (int i = 0; i < 50; ++i) {
    for (const Event& e : SyntheticRun()) {
      auto start = SteadyClock::now();
      (*notifier)->OnEvent(e);
      took.push_back(SteadyClock::now() - start);
    }
  }
  // OnEvent only formats and enqueues: the typical call takes microseconds.
  // The median is immune to the odd descheduled call on a loaded machine; a
  // call that waited for the hanging webhook would take its 30 s timeout.
  std::sort(took.begin(), took.end());
  EXPECT_LT(took[took.size() / 2], milliseconds(1));
  EXPECT_LT(took.back(), milliseconds(2000));
  const auto close_start = SteadyClock::now();
  (*notifier)->Close(close_start + milliseconds(300));
  const auto close_took = SteadyClock::now() - close_start;
  EXPECT_GE(close_took, milliseconds(300));
  EXPECT_LT(close_took, milliseconds(1500));  // deadline + one 50 ms poll, with slack
  NotifierStats stats = (*notifier)->stats();
  EXPECT_EQ(stats.sent, 0);
  EXPECT_EQ(stats.dropped, 300);  // every update: pushed out, abandoned, or cancelled
  receiver.release_ = true;
}

}  // namespace
}  // namespace faultline::controller
