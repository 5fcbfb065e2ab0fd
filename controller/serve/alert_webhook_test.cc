// The Alertmanager webhook receiver of `faultline serve`: real HTTP POSTs
// through cpp-httplib's client into a WebhookBoard, and its config key.
#include "controller/serve/alert_webhook.h"

#include <string>

#include "controller/serve/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace faultline::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kFiring[] = R"({"version": "4", "status": "firing", "receiver": "faultline",
  "groupLabels": {"alertname": "DatabaseLatencyHigh"}, "alerts": [
  {"status": "firing", "labels": {"alertname": "DatabaseLatencyHigh", "severity": "page"},
   "annotations": {}, "startsAt": "2026-11-27T18:00:00.5Z", "endsAt": "0001-01-01T00:00:00Z",
   "generatorURL": "http://prometheus/graph", "fingerprint": "0123abcd"}]})";

TEST(AlertWebhookServer, PostsFeedTheBoard) {
  WebhookBoard board;
  auto server = AlertWebhookServer::Start("127.0.0.1:0", &board);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();
  ASSERT_THAT(address, HasSubstr("127.0.0.1:"));
  EXPECT_EQ((*server)->url(), "http://" + address + "/");
  httplib::Client client("http://" + address);

  auto res = client.Post("/alerts", kFiring, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto firing = board.Firing();
  ASSERT_TRUE(firing.ok());
  ASSERT_THAT(*firing, SizeIs(1));
  EXPECT_EQ((*firing)[0].labels.at("severity"), "page");
  EXPECT_EQ((*firing)[0].starts_at_unix_ms, 1795802400500);
  EXPECT_GT((*firing)[0].received_unix_ms, 0);

  // Malformed: 400 with the reason, nothing applied.
  res = client.Post("/", "{\"alerts\": [{\"status\": \"firing\"}]}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("labels"));
  res = client.Post("/", "not json", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(board.size(), 1u);

  // Bounded body.
  res = client.Post("/", std::string(AlertWebhookServer::kMaxBodyBytes + 1, ' '),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);

  res = client.Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);

  // Resolved removes it.
  std::string resolved = kFiring;
  for (size_t at; (at = resolved.find("firing")) != std::string::npos;) {
    resolved.replace(at, 6, "resolved");
  }
  res = client.Post("/", resolved, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(board.size(), 0u);
}

TEST(AlertWebhookServer, BadListenAddresses) {
  WebhookBoard board;
  EXPECT_EQ(AlertWebhookServer::Start("nowhere", &board).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = AlertWebhookServer::Start("127.0.0.1:0", &board);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(AlertWebhookServer::Start((*first)->address(), &board).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(AlertWebhookConfig, ListenIsReadAndChecked) {
  std::vector<Diagnostic> diagnostics;
  auto config = ParseServeConfig("alertmanager_webhook: {listen: \"127.0.0.1:9097\"}\n",
                                 "serve.yaml", &diagnostics);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->alertmanager_webhook_listen, "127.0.0.1:9097");
  auto defaults = ParseServeConfig("listen: 127.0.0.1:7430\n", "serve.yaml", &diagnostics);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->alertmanager_webhook_listen, "");

  auto bad = ParseServeConfig("alertmanager_webhook: {listen: nine, port: 3}\n", "serve.yaml",
                              &diagnostics);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> problems;
  for (const Diagnostic& d : diagnostics) problems.push_back(d.ToString());
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr(
                            "serve.yaml:1:32: alertmanager_webhook.listen must be HOST:PORT")));
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr("port")));
}

}  // namespace
}  // namespace faultline::controller
