#include "controller/drill/alert_source.h"

#include <string>

#include "controller/probes/probe.h"
#include "controller/probes/test_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

TEST(ParseRfc3339, FractionsAndOffsets) {
  EXPECT_EQ(*ParseRfc3339UnixMs("2026-11-27T18:00:00Z"), 1795802400000);
  EXPECT_EQ(*ParseRfc3339UnixMs("2026-11-27T18:00:00.123456789Z"), 1795802400123);
  EXPECT_EQ(*ParseRfc3339UnixMs("2026-11-27T19:00:00.5+01:00"), 1795802400500);
  EXPECT_LT(*ParseRfc3339UnixMs("0001-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseRfc3339UnixMs("yesterday").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AlertmanagerSource, ReadsActiveAlertsWithFilters) {
  InitProbes();
  LocalServer server;
  std::string query;
  server.server().Get("/api/v2/alerts", [&](const httplib::Request& req, httplib::Response& res) {
    query = req.get_param_value("active") + "," + req.get_param_value("silenced") + "," +
            req.get_param_value("inhibited");
    res.set_content(R"([
      {"labels": {"alertname": "DatabaseLatencyHigh", "job": "worker"},
       "startsAt": "2026-11-27T18:00:00.250Z", "fingerprint": "abc",
       "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}},
      {"labels": {"alertname": "Fresh"}, "startsAt": "2026-11-27T18:00:01Z",
       "status": {"state": "unprocessed"}},
      {"labels": {"alertname": "Quiet"}, "startsAt": "2026-11-27T18:00:01Z",
       "status": {"state": "suppressed"}}
    ])",
                    "application/json");
  });
  server.Start();
  AlertmanagerSource source(server.Url("/"));
  auto firing = source.Firing();
  ASSERT_TRUE(firing.ok()) << firing.status();
  EXPECT_EQ(query, "true,false,false");
  ASSERT_THAT(*firing, SizeIs(2));
  EXPECT_EQ((*firing)[0].labels.at("alertname"), "DatabaseLatencyHigh");
  EXPECT_EQ((*firing)[0].labels.at("job"), "worker");
  EXPECT_EQ((*firing)[0].starts_at_unix_ms, 1795802400250);
  EXPECT_EQ((*firing)[0].fingerprint, "abc");
  EXPECT_EQ((*firing)[1].labels.at("alertname"), "Fresh");
  EXPECT_EQ(source.Describe(), "alertmanager " + server.Url("/"));
}

TEST(AlertmanagerSource, BadAnswersAreUnavailable) {
  InitProbes();
  LocalServer server;
  server.server().Get("/broken/api/v2/alerts", [](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
  });
  server.server().Get("/garbage/api/v2/alerts", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"not\": \"an array\"}", "application/json");
  });
  server.Start();
  auto broken = AlertmanagerSource(server.Url("/broken")).Firing();
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(broken.status().message(), HasSubstr("status 500"));
  auto garbage = AlertmanagerSource(server.Url("/garbage")).Firing();
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(garbage.status().message(), HasSubstr("json array"));
  auto refused = AlertmanagerSource("http://127.0.0.1:1", std::chrono::milliseconds(500)).Firing();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
}

constexpr char kFiring[] = R"({"version": "4", "status": "firing", "alerts": [
  {"status": "firing", "labels": {"alertname": "DatabaseLatencyHigh", "job": "worker"},
   "startsAt": "2026-11-27T18:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f1"}]})";
constexpr char kResolved[] = R"({"version": "4", "status": "resolved", "alerts": [
  {"status": "resolved", "labels": {"alertname": "DatabaseLatencyHigh", "job": "worker"},
   "startsAt": "2026-11-27T18:00:00Z", "endsAt": "2026-11-27T18:01:00Z"}]})";

TEST(WebhookBoard, FiringThenRepeatThenResolved) {
  WebhookBoard board;
  ASSERT_TRUE(board.Accept(kFiring, 1000).ok());
  ASSERT_TRUE(board.Accept(kFiring, 5000).ok());  // Alertmanager's repeat
  auto firing = board.Firing();
  ASSERT_TRUE(firing.ok());
  ASSERT_THAT(*firing, SizeIs(1));
  EXPECT_EQ((*firing)[0].labels.at("alertname"), "DatabaseLatencyHigh");
  EXPECT_EQ((*firing)[0].starts_at_unix_ms, 1795802400000);
  EXPECT_EQ((*firing)[0].received_unix_ms, 1000);  // the first receipt counts
  EXPECT_EQ((*firing)[0].fingerprint, "f1");
  ASSERT_TRUE(board.Accept(kResolved, 9000).ok());
  EXPECT_THAT(*board.Firing(), SizeIs(0));
  EXPECT_EQ(board.Describe(), "webhook");
}

TEST(WebhookBoard, MalformedPayloadsChangeNothing) {
  WebhookBoard board;
  ASSERT_TRUE(board.Accept(kFiring, 1000).ok());
  for (const char* bad : {"not json", "[]", R"({"alerts": 3})",
                          R"({"alerts": [{"status": "firing", "labels": {"a": 1}}]})",
                          R"({"alerts": [{"status": "maybe", "labels": {}}]})",
                          R"({"alerts": [{"status": "resolved", "labels": {"alertname":
                              "DatabaseLatencyHigh", "job": "worker"}}, {"status": "x"}]})"}) {
    EXPECT_EQ(board.Accept(bad, 2000).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(board.size(), 1u);  // the half-valid last payload resolved nothing
}

TEST(WebhookBoard, EndedAlertsAreNotFiring) {
  WebhookBoard board;
  ASSERT_TRUE(board.Accept(R"({"alerts": [{"status": "firing", "labels": {"alertname": "Old"},
      "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2020-01-01T00:05:00Z"}]})", 1).ok());
  EXPECT_THAT(*board.Firing(), SizeIs(0));
}

}  // namespace
}  // namespace faultline::controller
