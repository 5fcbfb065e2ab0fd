#include "controller/serve/config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << rfc3339 << error;
  return t;
}

std::vector<std::string> Problems(const std::string& yaml) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<ServeConfig> config = ParseServeConfig(yaml, "/etc/faultline/serve.yaml",
                                                        &diagnostics);
  EXPECT_FALSE(config.ok());
  if (!config.ok()) {
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  }
  std::vector<std::string> out;
  for (const Diagnostic& d : diagnostics) out.push_back(d.ToString());
  return out;
}

TEST(ServeConfigTest, ParsesEverySection) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<ServeConfig> config = ParseServeConfig(R"(
listen: 127.0.0.1:7500
journal: state/journal.db
inventory: fleet.yaml
lease_ttl: 20s
halt_deadline: 1500ms
embedded_dir: /tmp/fl-embedded
schedules:
  - experiment: experiments/latency.yaml
    schedule: {cron: "*/5 * * * *", timezone: Europe/Berlin}
    concurrency: allow
    missed: run-once
  - name: nightly
    experiment: /abs/other.yaml
    schedule: {cron: "@daily"}
window: {days: [mon-fri], from: "09:00", to: "17:30", timezone: Europe/Berlin}
blackout:
  - {from: 2026-12-24T00:00:00Z, to: "2026-12-27T00:00:00+01:00", reason: holidays}
)",
                                                        "/etc/faultline/serve.yaml", &diagnostics);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(diagnostics.empty());
  EXPECT_EQ(config->listen, "127.0.0.1:7500");
  EXPECT_EQ(config->journal, "/etc/faultline/state/journal.db");
  EXPECT_EQ(config->inventory_path, "/etc/faultline/fleet.yaml");
  EXPECT_EQ(config->lease_ttl, std::chrono::seconds(20));
  EXPECT_EQ(config->halt_deadline, std::chrono::milliseconds(1500));
  EXPECT_EQ(config->embedded_dir, "/tmp/fl-embedded");
  ASSERT_EQ(config->schedules.size(), 2u);
  const ScheduleConfig& a = config->schedules[0];
  EXPECT_EQ(a.name, "latency");  // the file stem
  EXPECT_EQ(a.experiment_path, "/etc/faultline/experiments/latency.yaml");
  EXPECT_EQ(a.cron.text(), "*/5 * * * *");
  EXPECT_EQ(a.timezone, "Europe/Berlin");
  EXPECT_EQ(a.concurrency, Concurrency::kAllow);
  EXPECT_EQ(a.missed, MissedPolicy::kRunOnce);
  const ScheduleConfig& b = config->schedules[1];
  EXPECT_EQ(b.name, "nightly");
  EXPECT_EQ(b.experiment_path, "/abs/other.yaml");
  EXPECT_EQ(b.timezone, "UTC");
  EXPECT_EQ(b.concurrency, Concurrency::kForbid);  // defaults
  EXPECT_EQ(b.missed, MissedPolicy::kSkip);
  ASSERT_TRUE(config->window.has_value());
  EXPECT_EQ(config->window->Describe(), "mon,tue,wed,thu,fri 09:00-17:30 Europe/Berlin");
  ASSERT_EQ(config->blackouts.size(), 1u);
  EXPECT_EQ(config->blackouts[0].from, At("2026-12-24T00:00:00Z"));
  EXPECT_EQ(config->blackouts[0].to, At("2026-12-26T23:00:00Z"));
  EXPECT_EQ(config->blackouts[0].reason, "holidays");
}

TEST(ServeConfigTest, DefaultsForAnEmptyMapping) {
  absl::StatusOr<ServeConfig> config = ParseServeConfig("{}\n", "s.yaml", nullptr);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, kDefaultServeAddress);
  EXPECT_EQ(config->listen, "127.0.0.1:7430");
  EXPECT_TRUE(config->journal.empty());
  EXPECT_TRUE(config->schedules.empty());
  EXPECT_FALSE(config->window.has_value());
}

TEST(ServeConfigTest, EveryProblemWithFileLineColumn) {
  EXPECT_THAT(Problems(R"(listen: 7430
lease_tl: 10s
schedules:
  - experiment: a.yaml
    schedule: {cron: "61 * * * *", timezone: Mars/Olympus}
    concurrency: sometimes
    missed: never
  - experiment: b.yaml
  - name: a
    experiment: c.yaml
    schedule: {cron: "@hourly"}
  - experiment: d.yaml
    schedule: {cron: "@hourly"}
    name: "bad name!"
window: {days: [mon, funday], from: "9am", to: "25:00"}
blackout:
  - {from: 2026-12-27T00:00:00Z, to: 2026-12-24T00:00:00Z}
  - {from: tomorrow, to: 2026-12-24T00:00:00Z}
)"),
              ElementsAre(
                  "/etc/faultline/serve.yaml:1:9: listen must be HOST:PORT or unix:/path, got 7430",
                  "/etc/faultline/serve.yaml:2:1: unknown field \"lease_tl\" in serve config (did "
                  "you mean \"lease_ttl\"?)",
                  "/etc/faultline/serve.yaml:5:22: cron \"61 * * * *\": minute \"61\": 61 is out "
                  "of range 0-59",
                  "/etc/faultline/serve.yaml:5:46: schedules[0].schedule.timezone must be an IANA "
                  "time zone such as UTC or Europe/Berlin, got \"Mars/Olympus\"",
                  "/etc/faultline/serve.yaml:6:18: schedules[0].concurrency must be forbid or "
                  "allow, got \"sometimes\"",
                  "/etc/faultline/serve.yaml:7:13: schedules[0].missed must be skip or run-once, "
                  "got \"never\"",
                  "/etc/faultline/serve.yaml:8:5: missing required field \"schedule\" in "
                  "schedules[1]",
                  "/etc/faultline/serve.yaml:14:11: schedules[3].name must be 1-63 characters "
                  "from [A-Za-z0-9._-], got \"bad name!\"",
                  "/etc/faultline/serve.yaml:15:22: window.days entries must be mon, tue, wed, "
                  "thu, fri, sat, sun or a range such as mon-fri, got \"funday\"",
                  "/etc/faultline/serve.yaml:15:37: window.from must be a time HH:MM such as "
                  "\"09:00\", got \"9am\"",
                  "/etc/faultline/serve.yaml:15:48: window.to must be a time HH:MM such as "
                  "\"09:00\" (or \"24:00\"), got \"25:00\"",
                  "/etc/faultline/serve.yaml:17:38: blackout[0].to must be after blackout[0].from",
                  "/etc/faultline/serve.yaml:18:12: blackout[1].from must be an RFC 3339 time "
                  "such as 2026-12-24T00:00:00Z, got \"tomorrow\""));
}

TEST(ServeConfigTest, DuplicateScheduleNames) {
  EXPECT_THAT(Problems(R"(schedules:
  - experiment: x/latency.yaml
    schedule: {cron: "@hourly"}
  - experiment: y/latency.yaml
    schedule: {cron: "@daily"}
)"),
              ElementsAre("/etc/faultline/serve.yaml:4:5: schedule name \"latency\" is used twice "
                          "(first at 2:5); give each schedule its own name"));
}

TEST(ServeConfigTest, TlsPathsAreRelativeToTheConfig) {
  absl::StatusOr<ServeConfig> config = ParseServeConfig(
      "tls: {ca: tls/ca.pem, cert: /srv/serve.pem, key: tls/serve.key}\n",
      "/etc/faultline/serve.yaml", nullptr);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls.ca, "/etc/faultline/tls/ca.pem");
  EXPECT_EQ(config->tls.cert, "/srv/serve.pem");
  EXPECT_EQ(config->tls.key, "/etc/faultline/tls/serve.key");
  EXPECT_EQ(config->tls_where.line, 1);
  absl::StatusOr<ServeConfig> plain = ParseServeConfig("tls: {}\n", "s.yaml", nullptr);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->tls.empty());
}

TEST(ServeConfigTest, TlsNeedsAllThreeFiles) {
  EXPECT_THAT(Problems("tls: {ca: ca.pem, cert: \"\", kee: k}\n"),
              ElementsAre("/etc/faultline/serve.yaml:1:6: tls needs ca, cert and key together; "
                          "missing key",
                          "/etc/faultline/serve.yaml:1:25: tls.cert must be a file path, got \"\"",
                          "/etc/faultline/serve.yaml:1:29: unknown field \"kee\" in tls (did you "
                          "mean \"key\"?)"));
}

class WindowTest : public ::testing::Test {
 protected:
  ServeConfig Config(const std::string& yaml) {
    absl::StatusOr<ServeConfig> config = ParseServeConfig(yaml, "s.yaml", nullptr);
    EXPECT_TRUE(config.ok()) << config.status();
    return config.ok() ? *config : ServeConfig{};
  }
};

TEST_F(WindowTest, OfficeHoursInBerlin) {
  ServeConfig c = Config(
      "window: {days: [mon-fri], from: \"09:00\", to: \"17:00\", timezone: Europe/Berlin}\n");
  // Friday 2026-11-27: Berlin is UTC+1.
  EXPECT_EQ(WindowOrBlackoutReason(c, At("2026-11-27T08:00:00Z")), "");  // 09:00 local
  EXPECT_EQ(WindowOrBlackoutReason(c, At("2026-11-27T15:59:00Z")), "");  // 16:59
  EXPECT_EQ(WindowOrBlackoutReason(c, At("2026-11-27T16:00:00Z")),
            "outside the window mon,tue,wed,thu,fri 09:00-17:00 Europe/Berlin (Fri 17:00 local)");
  EXPECT_EQ(WindowOrBlackoutReason(c, At("2026-11-27T07:59:00Z")),
            "outside the window mon,tue,wed,thu,fri 09:00-17:00 Europe/Berlin (Fri 08:59 local)");
  EXPECT_THAT(WindowOrBlackoutReason(c, At("2026-11-28T10:00:00Z")), HasSubstr("(Sat 11:00 local)"));
}

TEST_F(WindowTest, OvernightWindowBelongsToTheDayItStarts) {
  ServeConfig c = Config("window: {days: [fri], from: \"22:00\", to: \"06:00\"}\n");
  EXPECT_EQ(WindowOrBlackoutReason(c, At("2026-11-27T23:00:00Z")), "");  // Fri night
  EXPECT_EQ(WindowOrBlackoutReason(c, At("2026-11-28T05:59:00Z")), "");  // Sat early = Fri's
  EXPECT_NE(WindowOrBlackoutReason(c, At("2026-11-28T23:00:00Z")), "");  // Sat night
  EXPECT_NE(WindowOrBlackoutReason(c, At("2026-11-27T05:00:00Z")), "");  // Fri early = Thu's
  EXPECT_NE(WindowOrBlackoutReason(c, At("2026-11-27T12:00:00Z")), "");
}

TEST_F(WindowTest, BlackoutIsHalfOpenAndWinsOverTheWindow) {
  ServeConfig c = Config(R"(window: {from: "00:00", to: "24:00"}
blackout:
  - {from: 2026-12-24T00:00:00Z, to: 2026-12-27T00:00:00Z, reason: holidays}
  - {from: 2027-01-01T00:00:00Z, to: 2027-01-01T06:00:00Z}
)");
  EXPECT_EQ(WindowOrBlackoutReason(c, At("2026-12-23T23:59:59Z")), "");
  EXPECT_EQ(WindowOrBlackoutReason(c, At("2026-12-24T00:00:00Z")),
            "inside blackout 2026-12-24T00:00:00Z..2026-12-27T00:00:00Z: holidays");
  EXPECT_EQ(WindowOrBlackoutReason(c, At("2026-12-27T00:00:00Z")), "");
  EXPECT_EQ(WindowOrBlackoutReason(c, At("2027-01-01T01:00:00Z")),
            "inside blackout 2027-01-01T00:00:00Z..2027-01-01T06:00:00Z");
}

}  // namespace
}  // namespace faultline::controller
