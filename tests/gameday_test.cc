// Game days, end to end through the real binaries: `faultline run` in a
// pseudo-terminal draws the live view and turns typed lines into notes
// (author $USER, source terminal) and restores the terminal; without a
// terminal the output stays plain lines (--json: JSON lines only); an
// experiment's `notify:` webhook receives started/applied/reverted/finished
// updates from `faultline run` and from `faultline serve`, and a dead webhook
// neither fails nor stalls the run nor leaks its URL path; `faultline note`
// takes its author from $USER (or --author) on both the journal and the serve
// path.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "controller/probes/test_server.h"
#include "controller/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/serve_harness.h"

namespace faultline::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

extern "C" char** environ;

// argv's environment plus overrides ("USER=x"), built before fork.
std::vector<std::string> Environment(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    bool replaced = false;
    for (const std::string& o : overrides) {
      if (kv.substr(0, kv.find('=') + 1) == o.substr(0, o.find('=') + 1)) replaced = true;
    }
    if (!replaced) env.push_back(kv);
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// A child process we started, killed and reaped on destruction.
struct Process {
  pid_t pid = -1;
  bool reaped = false;
  int status = 0;
  ~Process() {
    if (pid > 0 && !reaped) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  // True once exited (status set); false on timeout.
  bool Wait(milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid, &status, WNOHANG) == pid) return reaped = true;
      usleep(20'000);
    }
    return false;
  }
};

// Starts argv with stdin, stdout and stderr on `in`, `out` (stderr = out).
// With `controlling_tty` the child gets a new session with `in` as its
// controlling terminal (in the foreground).
void Spawn(Process* p, std::vector<std::string> argv, std::vector<std::string> env, int in, int out,
           bool controlling_tty) {
  std::vector<char*> args = Pointers(argv);
  std::vector<char*> envp = Pointers(env);
  p->pid = fork();
  if (p->pid == 0) {
    if (controlling_tty) {
      setsid();
      ioctl(in, TIOCSCTTY, 0);
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
}

std::string RunIdFrom(const std::string& output) {
  auto pos = output.find("run id:");
  if (pos == std::string::npos) return "";
  pos = output.find_first_not_of(' ', pos + 7);
  return output.substr(pos, output.find_first_of(" \r\n", pos) - pos);
}

std::vector<controller::Event> Events(const std::string& journal, const std::string& run_id) {
  auto store = controller::OpenSqliteStore(journal);
  if (!store.ok()) return {};
  auto events = (*store)->Events(run_id);
  return events.ok() ? *events : std::vector<controller::Event>{};
}

std::vector<nlohmann::json> NotesOf(const std::string& journal, const std::string& run_id) {
  std::vector<nlohmann::json> notes;
  for (const auto& e : Events(journal, run_id)) {
    if (e.type == "note") notes.push_back(e.data);
  }
  return notes;
}

// Collects the JSON bodies POSTed to /hook/... (Slack-style webhook).
class Receiver {
 public:
  Receiver() {
    server_.server().Post(R"(/hook/.*)",
                          [this](const httplib::Request& req, httplib::Response& res) {
                            std::lock_guard lock(mu_);
                            bodies_.push_back(nlohmann::json::parse(req.body, nullptr, false));
                            res.set_content("ok", "text/plain");
                          });
    server_.Start();
  }
  std::string Url() const { return server_.Url("/hook/T000/B000/s3cr3t"); }
  std::vector<std::string> EventTypes() {
    std::lock_guard lock(mu_);
    std::vector<std::string> types;
    for (const auto& b : bodies_) {
      types.push_back(b.is_object() ? b["faultline"].value("event", "?") : "(not json)");
    }
    return types;
  }
  std::vector<nlohmann::json> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  std::mutex mu_;
  std::vector<nlohmann::json> bodies_;
  controller::LocalServer server_;  // last: stopped first
};

class GamedayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    victim_ = StartVictim(dir_, "gd-victim");
    ASSERT_GT(victim_.pid(), 0);
  }
  std::string Experiment(const std::string& name, const std::string& extra,
                         const std::string& duration) {
    return WriteFile(dir_, name + ".yaml",
                     "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: " + name +
                         "}\n" + extra + "method:\n  - {fault: process.pause, params: {pid: " +
                         std::to_string(victim_.pid()) + "}, duration: " + duration + "}\n");
  }
  std::vector<std::string> RunArgs(const std::string& file) {
    return {BinDir() + "/faultline", "run", file, "--journal", journal_, "--embedded-dir",
            dir_.File("embedded")};
  }
  // Runs without a terminal (stdin /dev/null, output to a file).
  int RunPlain(std::vector<std::string> argv, std::string* out) {
    const std::string log = dir_.File("plain.log");
    unlink(log.c_str());
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    Process p;
    Spawn(&p, argv, Environment({}), in, fd, false);
    close(in);
    close(fd);
    bool exited = p.Wait(seconds(60));
    *out = ReadFile(log);
    if (!exited) return -1;
    return WIFEXITED(p.status) ? WEXITSTATUS(p.status) : 128 + WTERMSIG(p.status);
  }

  TempDir dir_;
  std::string journal_ = dir_.File("journal.db");
  Child victim_;
};

TEST_F(GamedayTest, LiveViewInATerminalAndTypedLinesBecomeNotes) {
  const std::string file = Experiment("gameday-live", "", "4s");
  int master = -1, slave = -1;
  winsize ws{};
  ws.ws_row = 40;
  ws.ws_col = 120;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, &ws), 0);
  Process run;
  Spawn(&run, RunArgs(file), Environment({"USER=gameday-tester", "TERM=xterm"}), slave, slave,
        true);
  ASSERT_GT(run.pid, 0);

  std::string out;
  auto read_until = [&](const std::string& needle, milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{master, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) {
        char buf[4096];
        ssize_t n = read(master, buf, sizeof(buf));
        if (n > 0) out.append(buf, n);
      }
    }
    return out.find(needle) != std::string::npos;
  };
  // The frame is up while the fault is held.
  ASSERT_TRUE(read_until("process.pause [", seconds(20))) << out;
  ASSERT_TRUE(read_until("time left", seconds(5))) << out;
  EXPECT_EQ(ProcessState(victim_.pid()), 'T');
  const std::string typed = "checkout p99 at 900ms, \xC3\xA9tienne looking\n";
  ASSERT_EQ(write(master, typed.data(), typed.size()), static_cast<ssize_t>(typed.size()));
  ASSERT_TRUE(read_until("note added (gameday-tester): checkout p99 at 900ms", seconds(5))) << out;
  // Empty lines are not notes.
  ASSERT_EQ(write(master, "  \n", 3), 3);
  ASSERT_TRUE(read_until("verdict:", seconds(30))) << out;
  ASSERT_TRUE(run.Wait(seconds(20)));
  read_until("(faultline show", milliseconds(500));
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << out;

  EXPECT_THAT(out, HasSubstr("Ctrl-C stops and reverts every fault; type a line + Enter to add a "
                             "note"));
  EXPECT_THAT(out, HasSubstr("== faultline: gameday-live | run "));
  EXPECT_THAT(out, HasSubstr("active faults (1):"));
  EXPECT_THAT(out, HasSubstr("  local:"));
  EXPECT_THAT(out, HasSubstr("note> "));
  EXPECT_THAT(out, HasSubstr("\x1b[J"));  // redrawn in place
  EXPECT_THAT(out, HasSubstr("finished: passed"));
  EXPECT_THAT(out, HasSubstr("verdict: passed"));
  // The terminal is as it was: echo and line editing back on.
  termios t{};
  ASSERT_EQ(tcgetattr(slave, &t), 0);
  EXPECT_NE(t.c_lflag & ECHO, 0u);
  EXPECT_NE(t.c_lflag & ICANON, 0u);
  close(master);
  close(slave);

  const std::string run_id = RunIdFrom(out);
  ASSERT_FALSE(run_id.empty()) << out;
  std::vector<nlohmann::json> notes = NotesOf(journal_, run_id);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0]["author"], "gameday-tester");
  EXPECT_EQ(notes[0]["text"], "checkout p99 at 900ms, \xC3\xA9tienne looking");
  EXPECT_EQ(notes[0]["source"], "terminal");
  EXPECT_NE(ProcessState(victim_.pid()), 'T');
}

TEST_F(GamedayTest, WithoutATerminalOutputStaysPlainLines) {
  const std::string file = Experiment("gameday-plain", "", "300ms");
  std::string out;
  ASSERT_EQ(RunPlain(RunArgs(file), &out), 0) << out;
  EXPECT_THAT(out, Not(HasSubstr("\x1b")));
  EXPECT_THAT(out, Not(HasSubstr("Ctrl-C stops")));
  EXPECT_THAT(out, Not(HasSubstr("active faults")));
  EXPECT_THAT(out, HasSubstr("verdict: passed"));

  std::vector<std::string> args = RunArgs(file);
  args.push_back("--json");
  ASSERT_EQ(RunPlain(args, &out), 0) << out;
  std::vector<std::string> types;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    std::string line = out.substr(start, end - start);
    start = end == std::string::npos ? out.size() : end + 1;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not a JSON line: " << line;
    types.push_back(j.value("type", ""));
  }
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.front(), "run.started");
  EXPECT_EQ(types.back(), "run.finished");
}

TEST_F(GamedayTest, RunSendsChatUpdatesToTheWebhook) {
  Receiver receiver;
  const std::string file =
      Experiment("gameday-notify", "notify: {webhook: \"" + receiver.Url() + "\"}\n", "500ms");
  std::string out;
  ASSERT_EQ(RunPlain(RunArgs(file), &out), 0) << out;
  // Every update was delivered before the process exited (Close flushes).
  EXPECT_EQ(receiver.EventTypes(), (std::vector<std::string>{"run.started", "fault.applied",
                                                             "fault.reverted", "run.finished"}));
  std::vector<nlohmann::json> bodies = receiver.bodies();
  ASSERT_EQ(bodies.size(), 4u);
  const std::string run_id = RunIdFrom(out);
  for (const auto& b : bodies) {
    EXPECT_EQ(b["faultline"]["run_id"], run_id);
    EXPECT_THAT(b["text"].get<std::string>(), HasSubstr("gameday-notify"));
    ASSERT_EQ(b["blocks"][1]["fields"].size(), 4u) << b.dump();
  }
  EXPECT_THAT(bodies[1]["blocks"][1]["fields"][0]["text"].get<std::string>(),
              HasSubstr("Fault applied: process.pause on local"));
  EXPECT_THAT(bodies[3]["text"].get<std::string>(), HasSubstr("finished: passed"));
}

TEST_F(GamedayTest, DeadWebhookNeitherFailsNorStallsTheRunNorLeaksItsPath) {
  int port = 0;
  {
    controller::LocalServer gone;
    port = gone.Start();
  }
  const std::string file = Experiment(
      "gameday-dead-hook",
      "notify: {webhook: \"http://127.0.0.1:" + std::to_string(port) + "/hook/T0/B0/s3cr3t\"}\n",
      "300ms");
  std::string out;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(RunPlain(RunArgs(file), &out), 0) << out;
  const auto took = std::chrono::steady_clock::now() - start;
  // The run (~1 s) plus at most the 5 s the last updates get at the end.
  EXPECT_LT(took, seconds(20)) << out;
  EXPECT_THAT(out, HasSubstr("webhook=http://127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(out, Not(HasSubstr("s3cr3t")));
}

TEST_F(GamedayTest, NotesTakeTheirAuthorFromUserOnTheJournalAndServePaths) {
  Receiver receiver;
  WriteFile(dir_, "slow.yaml",
            "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: gameday-serve}\n"
            "notify: {webhook: \"" +
                receiver.Url() + "\"}\nmethod:\n  - wait: 60s\n");
  const std::string config = WriteFile(dir_, "serve.yaml",
                                       "listen: 127.0.0.1:0\njournal: journal.db\n"
                                       "embedded_dir: embedded\n");
  ServeProcess serve = StartServe(dir_, config, dir_.File("serve.log"));
  ASSERT_FALSE(serve.address.empty()) << ReadFile(dir_.File("serve.log"));
  std::string out;
  ASSERT_EQ(Faultline({"submit", dir_.File("slow.yaml"), "--server", serve.address}, &out), 0)
      << out;
  // submit without --wait prints the run id.
  const std::string run_id = out.substr(0, out.find_first_of(" \n"));
  ASSERT_FALSE(run_id.empty()) << out;

  const char* saved = getenv("USER");
  const std::string saved_user = saved == nullptr ? "" : saved;
  setenv("USER", "carol", 1);
  EXPECT_EQ(Faultline({"note", run_id, "via serve", "--server", serve.address}, &out), 0) << out;
  setenv("USER", "dave", 1);
  EXPECT_EQ(Faultline({"note", run_id, "via journal", "--journal", journal_}, &out), 0) << out;
  EXPECT_EQ(Faultline({"note", run_id, "named", "--journal", journal_, "--author", "erin"}, &out),
            0)
      << out;
  EXPECT_EQ(
      Faultline({"note", run_id, "named via serve", "--server", serve.address, "--author", "frank"},
                &out),
      0)
      << out;
  if (saved == nullptr) {
    unsetenv("USER");
  } else {
    setenv("USER", saved_user.c_str(), 1);
  }
  std::map<std::string, std::string> authors;
  for (const auto& n : NotesOf(journal_, run_id)) authors[n["text"]] = n.value("author", "");
  EXPECT_EQ(authors, (std::map<std::string, std::string>{{"via serve", "carol"},
                                                         {"via journal", "dave"},
                                                         {"named", "erin"},
                                                         {"named via serve", "frank"}}));

  ASSERT_EQ(Faultline({"abort", run_id, "--server", serve.address, "--reason", "test over"}, &out),
            0)
      << out;
  // serve hands the run's events to its notifier too.
  EXPECT_TRUE(Eventually(
      [&] {
        std::vector<std::string> types = receiver.EventTypes();
        return !types.empty() && types.back() == "run.finished";
      },
      seconds(30)))
      << ::testing::PrintToString(receiver.EventTypes()) << ReadFile(dir_.File("serve.log"));
  EXPECT_EQ(receiver.EventTypes(),
            (std::vector<std::string>{"run.started", "abort", "abort.reverted", "run.finished"}));
  StopServe(serve);
  EXPECT_THAT(ReadFile(dir_.File("serve.log")), Not(HasSubstr("s3cr3t")));
}

}  // namespace
}  // namespace faultline::testing
