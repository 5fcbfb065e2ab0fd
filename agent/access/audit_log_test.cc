// Audit log: the line format, appending across reopen with mode 0600, and
// concurrent writers (threads and separate opens) producing whole lines only.
#include "agent/access/audit_log.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace faultline::agent {
namespace {

using ::testing::HasSubstr;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ =
        (std::filesystem::temp_directory_path() / "faultline-audit-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> Lines(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  std::filesystem::path dir_;
};

AuditRecord ApplyRecord() {
  AuditRecord record;
  record.time = absl::FromUnixMillis(1795815601123);  // 2026-11-27T21:40:01.123Z
  record.rpc = "Apply";
  record.identity = "CN=faultline-controller,O=faultline";
  record.authenticated = true;
  record.peer = "198.18.0.1";
  record.fault_id = "f1";
  record.run_id = "r1";
  record.kind = "network.delay";
  record.has_dry_run = true;
  record.params_json = R"({"network_delay":{"delay_ms":100}})";
  record.result = absl::PermissionDeniedError("no authorization rule lets x apply network.delay");
  record.elapsed = std::chrono::milliseconds(3);
  return record;
}

TEST_F(AuditLogTest, LineFormat) {
  EXPECT_EQ(FormatAuditLine(ApplyRecord()),
            R"({"time":"2026-11-27T21:40:01.123Z","rpc":"Apply",)"
            R"("identity":"CN=faultline-controller,O=faultline","authenticated":true,)"
            R"("peer":"198.18.0.1","fault_id":"f1","run_id":"r1","kind":"network.delay",)"
            R"("dry_run":false,"params":{"network_delay":{"delay_ms":100}},)"
            R"("code":"PERMISSION_DENIED",)"
            R"("message":"no authorization rule lets x apply network.delay","elapsed_ms":3})");

  AuditRecord refused;
  refused.time = absl::FromUnixMillis(1795815601000);
  refused.rpc = "List";
  refused.identity = "unauthenticated";
  refused.peer = "127.0.0.1";
  refused.presented_subject = "CN=faultline-expired,O=faultline";
  refused.result = absl::UnauthenticatedError("client certificate expired at 2020-01-02T00:00:00Z");
  EXPECT_EQ(FormatAuditLine(refused),
            R"({"time":"2026-11-27T21:40:01.000Z","rpc":"List","identity":"unauthenticated",)"
            R"("authenticated":false,"peer":"127.0.0.1",)"
            R"("presented_subject":"CN=faultline-expired,O=faultline","code":"UNAUTHENTICATED",)"
            R"("message":"client certificate expired at 2020-01-02T00:00:00Z","elapsed_ms":0})");

  AuditRecord halt;
  halt.time = absl::FromUnixMillis(1795815601000);
  halt.rpc = "Halt";
  halt.identity = "anonymous";
  halt.reason = "operator \"stop\"\n";
  halt.ttl_ms = 0;
  EXPECT_EQ(FormatAuditLine(halt),
            R"({"time":"2026-11-27T21:40:01.000Z","rpc":"Halt","identity":"anonymous",)"
            R"("authenticated":false,"peer":"","reason":"operator \"stop\"\n","ttl_ms":0,)"
            R"("code":"OK","message":"","elapsed_ms":0})");
}

TEST_F(AuditLogTest, HostileValuesStillMakeOneValidLine) {
  AuditRecord record = ApplyRecord();
  record.fault_id = "bad\xff\xfeutf8";
  record.params_json = "{not json";
  const std::string line = FormatAuditLine(record);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["params"], "{not json");
  EXPECT_THAT(parsed["fault_id"].get<std::string>(), HasSubstr("utf8"));
}

TEST_F(AuditLogTest, AppendsAcrossReopenWithMode0600) {
  const std::filesystem::path path = dir_ / "logs" / "audit.jsonl";
  {
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(path.string());
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ((*log)->path(), path.string());
    ASSERT_TRUE((*log)->Append(ApplyRecord()).ok());
    ASSERT_TRUE((*log)->Append(ApplyRecord()).ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(path.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  {
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(path.string());
    ASSERT_TRUE(log.ok()) << log.status();
    AuditRecord third = ApplyRecord();
    third.fault_id = "f3";
    ASSERT_TRUE((*log)->Append(third).ok());
  }
  std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], FormatAuditLine(ApplyRecord()));
  EXPECT_EQ(nlohmann::json::parse(lines[2])["fault_id"], "f3");
}

TEST_F(AuditLogTest, ConcurrentWritersProduceWholeLines) {
  const std::filesystem::path path = dir_ / "audit.jsonl";
  absl::StatusOr<std::unique_ptr<AuditLog>> shared = AuditLog::Open(path.string());
  ASSERT_TRUE(shared.ok()) << shared.status();
  // Two writers share one AuditLog, two more open the file themselves (as a
  // second process would). Lines are long (~16 KiB), far beyond any stdio
  // buffer, so torn writes would show.
  constexpr int kWriters = 4;
  constexpr int kLinesEach = 20;
  const std::string filler(16 * 1024, 'x');
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::unique_ptr<AuditLog> own;
      AuditLog* log = shared->get();
      if (w >= 2) {
        own = *AuditLog::Open(path.string());
        log = own.get();
      }
      for (int i = 0; i < kLinesEach; ++i) {
        AuditRecord record = ApplyRecord();
        record.fault_id = absl::StrCat("w", w, "-", i);
        record.reason = filler;
        EXPECT_TRUE(log->Append(record).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();

  std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kWriters * kLinesEach));
  std::set<std::string> ids;
  for (const std::string& line : lines) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(parsed.is_discarded()) << line.substr(0, 200);
    EXPECT_EQ(parsed["reason"], filler);
    ids.insert(parsed["fault_id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kWriters * kLinesEach));
}

TEST_F(AuditLogTest, OpenErrorsNameTheFile) {
  std::ofstream(dir_ / "plain") << "x";
  const std::filesystem::path under_file = dir_ / "plain" / "audit.jsonl";
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(under_file.string());
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(std::string(log.status().message()),
            absl::StrCat("open audit log ", under_file.string(), ": Not a directory"));

  const std::filesystem::path under_under = dir_ / "plain" / "x" / "audit.jsonl";
  log = AuditLog::Open(under_under.string());
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(std::string(log.status().message()),
            absl::StrCat("create audit log directory ", (dir_ / "plain" / "x").string(),
                         ": Not a directory"));

  log = AuditLog::Open(dir_.string());
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(std::string(log.status().message()),
            absl::StrCat("open audit log ", dir_.string(), ": Is a directory"));

  EXPECT_EQ(AuditLog::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace faultline::agent
