// The HTML report as a browser sees it: a drill journaled into a real SQLite
// journal, rendered with RenderReport, opened from disk by headless Chromium
// (no network: the page must not need any), screenshotted, and its DOM --
// as Chromium parsed it -- checked for one lane per host, the fault bars,
// pass/fail probe marks and the note/detect/recover/abort markers, with the
// journal's markup still text. Skipped only when /usr/bin/chromium is absent.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controller/report/report.h"
#include "controller/report/review_fixture.h"
#include "controller/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kChromium[] = "/usr/bin/chromium";
constexpr auto kChromiumTimeout = std::chrono::seconds(60);

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs Chromium headless with `extra` arguments on `url`, stdout to
// `stdout_path`, stderr discarded (it warns about D-Bus and the like). The
// browser runs in its own process group, killed as a whole after the
// timeout. Returns the exit status, or -1 on timeout / failure to start.
int RunChromium(const std::string& profile, const std::vector<std::string>& extra,
                const std::string& url, const std::string& stdout_path) {
  std::vector<std::string> args = {kChromium,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--user-data-dir=" + profile};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(url);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    setpgid(0, 0);
    FILE* out = std::fopen(stdout_path.c_str(), "w");
    FILE* err = std::fopen("/dev/null", "w");
    if (out == nullptr || err == nullptr) _exit(126);
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(err), STDERR_FILENO);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kChromium, argv.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also from here, so the group exists before any kill
  const auto deadline = std::chrono::steady_clock::now() + kChromiumTimeout;
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Helpers (zygote, GPU/utility processes) left in the group go too.
  kill(-pid, SIGKILL);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class HtmlBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kChromium, X_OK) != 0) GTEST_SKIP() << kChromium << " not installed";
    std::string tmpl = (std::filesystem::temp_directory_path() / "fl-html-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Journals the fixture drill as the runner would (CreateRun, Append per
  // event, FinishRun), then moves each event's timestamp to its scripted
  // offset -- appends happen within milliseconds here, a drill takes
  // minutes -- and reads the run back.
  void JournalDrill(RunRecord* run, std::vector<Event>* events) {
    const std::string journal = dir_ + "/journal.db";
    std::vector<testing::ScriptedEvent> scripted = testing::DrillEvents();
    std::string run_id;
    {
      auto store = OpenSqliteStore(journal);
      ASSERT_TRUE(store.ok()) << store.status();
      RunRecord record = testing::DrillRun();
      record.run_id.clear();
      record.status = RunStatus::kRunning;
      record.exit_code = -1;
      record.ended_unix_ms = 0;
      auto created = (*store)->CreateRun(record);
      ASSERT_TRUE(created.ok()) << created.status();
      run_id = created->run_id;
      for (const testing::ScriptedEvent& e : scripted) {
        ASSERT_TRUE((*store)->Append(run_id, e.type, e.data).ok());
      }
      ASSERT_TRUE((*store)->FinishRun(run_id, RunStatus::kDeviated, 1).ok());
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(journal.c_str(), &db), SQLITE_OK);
    auto exec = [db](const std::string& sql) {
      char* error = nullptr;
      int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
      std::string message = error != nullptr ? error : "";
      sqlite3_free(error);
      return rc == SQLITE_OK ? std::string() : message;
    };
    ASSERT_EQ(exec("BEGIN"), "");
    ASSERT_EQ(exec("UPDATE runs SET started_unix_ms = " + std::to_string(testing::kDrillT0) +
                   ", ended_unix_ms = " + std::to_string(testing::kDrillT0 + 200'000) +
                   " WHERE run_id = '" + run_id + "'"),
              "");
    int64_t first_seq = 0;
    {
      sqlite3_stmt* stmt = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT min(seq) FROM events", -1, &stmt, nullptr), SQLITE_OK);
      ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
      first_seq = sqlite3_column_int64(stmt, 0);
      sqlite3_finalize(stmt);
    }
    for (size_t i = 0; i < scripted.size(); ++i) {
      ASSERT_EQ(exec("UPDATE events SET unix_ms = " +
                     std::to_string(testing::kDrillT0 + scripted[i].offset_ms) +
                     " WHERE seq = " + std::to_string(first_seq + static_cast<int64_t>(i))),
                "");
    }
    ASSERT_EQ(exec("COMMIT"), "");
    sqlite3_close(db);

    auto store = OpenSqliteStore(journal);
    ASSERT_TRUE(store.ok()) << store.status();
    auto read = (*store)->GetRun(run_id);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->kind, "Drill");
    EXPECT_EQ(read->labels.at("team"), "payments");
    auto list = (*store)->Events(run_id);
    ASSERT_TRUE(list.ok()) << list.status();
    ASSERT_EQ(list->size(), scripted.size());
    *run = *read;
    *events = *list;
  }

  std::string dir_;
};

TEST_F(HtmlBrowserTest, ChromiumRendersLanesBarsMarksAndMarkers) {
  RunRecord run;
  std::vector<Event> events;
  ASSERT_NO_FATAL_FAILURE(JournalDrill(&run, &events));
  const std::string page = dir_ + "/report.html";
  {
    std::ofstream out(page);
    out << RenderReport(ReportFormat::kHtml, run, events);
  }
  const std::string url = "file://" + page;

  const auto started = std::chrono::steady_clock::now();
  const std::string shot = dir_ + "/shot.png";
  int rc = RunChromium(dir_ + "/profile-shot", {"--screenshot=" + shot, "--window-size=1400,1000"},
                       url, dir_ + "/shot.out");
  ASSERT_EQ(rc, 0) << "chromium --screenshot failed or timed out";
  std::string dom_path = dir_ + "/dom.html";
  rc = RunChromium(dir_ + "/profile-dom", {"--dump-dom"}, url, dom_path);
  ASSERT_EQ(rc, 0) << "chromium --dump-dom failed or timed out";
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  std::cout << "chromium: screenshot + dom in " << took.count() << " ms\n";

  // The screenshot: a PNG of the window size with real content (an empty
  // white page of this size compresses to a few KB).
  std::string png = ReadFile(shot);
  ASSERT_GE(png.size(), 24u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto be32 = [&png](size_t at) {
    return (static_cast<uint32_t>(static_cast<unsigned char>(png[at])) << 24) |
           (static_cast<uint32_t>(static_cast<unsigned char>(png[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<unsigned char>(png[at + 2])) << 8) |
           static_cast<uint32_t>(static_cast<unsigned char>(png[at + 3]));
  };
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(be32(16), 1400u);
  EXPECT_EQ(be32(20), 1000u);
  EXPECT_GT(png.size(), 30'000u) << "screenshot looks empty";
  std::cout << "screenshot: " << png.size() << " bytes\n";

  // $FAULTLINE_TEST_ARTIFACTS: keep the page and the screenshot to look at.
  if (const char* keep = std::getenv("FAULTLINE_TEST_ARTIFACTS"); keep != nullptr && keep[0] != '\0') {
    std::error_code ec;
    std::filesystem::create_directories(keep, ec);
    std::filesystem::copy_file(page, std::string(keep) + "/report.html",
                               std::filesystem::copy_options::overwrite_existing, ec);
    std::filesystem::copy_file(shot, std::string(keep) + "/report.png",
                               std::filesystem::copy_options::overwrite_existing, ec);
  }

  // The DOM as Chromium built it.
  std::string dom = ReadFile(dom_path);
  ASSERT_THAT(dom, HasSubstr("<svg class=\"timeline\""));
  EXPECT_EQ(Count(dom, "class=\"lane host-lane\""), 2u);
  EXPECT_EQ(Count(dom, "class=\"lane host-lane\" data-host=\"db-1\""), 1u);
  EXPECT_EQ(Count(dom, "class=\"lane host-lane\" data-host=\"db-2\""), 1u);
  EXPECT_EQ(Count(dom, "class=\"lane probe-lane\" data-probe=\"checkout\""), 1u);
  EXPECT_EQ(Count(dom, "<g class=\"fault-bar\" data-kind=\"network.delay\""), 1u);
  EXPECT_EQ(Count(dom, "<g class=\"fault-bar\" data-kind=\"cpu.pressure\""), 1u);
  EXPECT_EQ(Count(dom, "class=\"probe-mark pass\""), 11u);
  EXPECT_EQ(Count(dom, "class=\"probe-mark fail\""), 10u);
  for (const char* kind : {"note", "detect", "recover", "abort"}) {
    EXPECT_EQ(Count(dom, std::string("<g class=\"marker ") + kind + "\""), 1u) << kind;
  }
  // The note's markup is text in the page, not an element.
  EXPECT_THAT(dom, Not(HasSubstr("<script")));
  EXPECT_THAT(dom, HasSubstr("p99 up &lt;script&gt;alert('x')&lt;/script&gt;"));
  EXPECT_THAT(dom, HasSubstr("<dd>alice</dd>"));
}

}  // namespace
}  // namespace faultline::controller
