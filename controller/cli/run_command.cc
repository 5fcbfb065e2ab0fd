#include "controller/cli/run_command.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/program_options.hpp"
#include "common/units.h"
#include "common/unix_time.h"
#include "controller/cli/cli_common.h"
#include "controller/cli/live_view.h"
#include "controller/cli/plan_command.h"
#include "controller/notify/notifier.h"
#include "controller/probes/probe.h"
#include "controller/report/report.h"
#include "controller/run/embedded_agent.h"
#include "controller/run/runner.h"
#include "controller/run/stop_signal.h"
#include "controller/spec/drill.h"
#include "controller/spec/experiment.h"

namespace po = boost::program_options;

namespace faultline::controller {
namespace {

// Blocks the stop signals in every thread (call before any thread starts) and
// routes them to `stop` from one sigwait thread; `say` prints what happens.
void RouteStopSignals(StopSignal* stop, std::function<void(const std::string&)> say) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, stop, say] {
    int count = 0;
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (++count == 1) {
        stop->Stop(
            absl::StrCat("interrupted by ", sig == SIGINT ? "SIGINT (Ctrl-C)" : strsignal(sig)));
        say("faultline: stopping — reverting every active fault (Ctrl-C again will not skip the "
            "revert)");
      } else {
        say("faultline: still reverting; faults are also bounded by their TTL and lease");
      }
    }
  }).detach();
}

// The live view drawn in place at the bottom of the terminal, with the event
// log scrolling above it and, when notes are typed here, an input line under
// it. Thread-safe; every write to the terminal during the run goes through it.
class LiveTerminal {
 public:
  LiveTerminal(std::shared_ptr<LiveView> view, bool input_line)
      : view_(std::move(view)), input_line_(input_line) {}

  // A line for the scrolling log above the frame.
  void Print(const std::string& line) {
    std::lock_guard lock(mu_);
    std::string out = Erase();
    out += line;
    out += "\n";
    Draw(&out);
  }
  void Redraw() {
    std::lock_guard lock(mu_);
    std::string out = Erase();
    Draw(&out);
  }
  void SetInput(const std::string& input) {
    std::lock_guard lock(mu_);
    input_ = input;
    std::string out = Erase();
    Draw(&out);
  }
  // Leaves the final frame on screen, followed by a newline; later calls
  // print plainly.
  void Finish() {
    std::lock_guard lock(mu_);
    if (done_) return;
    input_line_ = false;
    std::string out = Erase();
    Draw(&out);  // writes `out`
    Write("\n");
    done_ = true;
    drawn_ = 0;
  }

 private:
  static void Write(const std::string& out) {
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  }
  // Moves to the frame's first line and clears to the end of the screen.
  std::string Erase() {
    std::string out = "\r";
    if (drawn_ > 1) out += absl::StrCat("\x1b[", drawn_ - 1, "A");
    if (drawn_ > 0) out += "\x1b[J";
    drawn_ = 0;
    return out;
  }
  // Appends the frame (cursor left at the end of its last line) and writes.
  void Draw(std::string* out) {
    if (done_) {
      Write(*out);
      return;
    }
    winsize ws{};
    size_t cols = 100, rows = 40;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
      cols = ws.ws_col;
      rows = ws.ws_row;
    }
    // One column short: a line that fills the last column wraps on some
    // terminals and the cursor-up count would be off by one.
    std::vector<std::string> lines = view_->Render(NowMs(), cols > 1 ? cols - 1 : cols);
    if (input_line_) {
      std::string prompt = absl::StrCat("note> ", input_);
      if (prompt.size() > cols - 1) prompt = prompt.substr(prompt.size() - (cols - 1));
      lines.push_back(prompt);
    }
    const size_t max_lines = rows > 4 ? rows - 2 : rows;
    if (lines.size() > max_lines && max_lines > 1) {
      lines.resize(max_lines - 1);
      lines.push_back("...");
    }
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) *out += "\n";
      *out += lines[i];
    }
    drawn_ = static_cast<int>(lines.size());
    Write(*out);
  }
  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  std::mutex mu_;
  std::shared_ptr<LiveView> view_;
  bool input_line_;
  std::string input_;
  int drawn_ = 0;
  bool done_ = false;
};

// Lines typed into the terminal during the run become notes. Reads fd 0 with
// poll() so Stop() returns within 200 ms whatever the person is doing. With
// `raw` the terminal's echo and line editing are off (the live view shows the
// line being typed) and are restored by Stop().
class NoteReader {
 public:
  using Commit = std::function<void(const std::string& line)>;
  using Typing = std::function<void(const std::string& partial)>;

  NoteReader(bool raw, Commit commit, Typing typing)
      : commit_(std::move(commit)), typing_(std::move(typing)) {
    // A run moved to the background must not be stopped by the terminal for
    // reading it (SIGTTIN) or for changing its modes (SIGTTOU): reads then fail
    // with EIO instead, and are retried.
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    if (raw && tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios t = saved_;
      t.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      t.c_cc[VMIN] = 1;
      t.c_cc[VTIME] = 0;
      restore_ = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
    }
    thread_ = std::thread([this] { Loop(); });
  }
  ~NoteReader() { Stop(); }

  void Stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
    if (restore_) {
      tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
      restore_ = false;
    }
  }

 private:
  void Loop() {
    std::string line;
    while (!done_) {
      pollfd p{STDIN_FILENO, POLLIN, 0};
      int ready = poll(&p, 1, 200);
      if (ready <= 0) continue;
      if ((p.revents & (POLLHUP | POLLNVAL)) != 0 && (p.revents & POLLIN) == 0) return;
      char buf[256];
      ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
      if (n == 0) return;  // end of input
      if (n < 0) {
        // EIO: moved to the background (SIGTTIN ignored); do not spin.
        if (errno != EINTR && errno != EAGAIN) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        continue;
      }
      for (ssize_t i = 0; i < n; ++i) {
        const char c = buf[i];
        if (c == '\n' || c == '\r') {
          std::string text = Trim(line);
          line.clear();
          if (!text.empty()) commit_(text);
        } else if (c == 0x7f || c == 0x08) {
          // Backspace: drop the last UTF-8 character.
          while (!line.empty() && (static_cast<unsigned char>(line.back()) & 0xC0) == 0x80) {
            line.pop_back();
          }
          if (!line.empty()) line.pop_back();
        } else if (c == 0x15) {  // Ctrl-U
          line.clear();
        } else if (static_cast<unsigned char>(c) >= 0x20 && line.size() < 4096) {
          line += c;
        }
      }
      typing_(line);
    }
  }
  static std::string Trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
  }

  Commit commit_;
  Typing typing_;
  std::atomic<bool> done_{false};
  termios saved_{};
  bool restore_ = false;
  std::thread thread_;
};

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string file, junit;
  bool json = false, dry_run = false, plain = false;
  std::string lease_ttl_text = "10s";
  std::string inventory_flag, speed_flag;
  uint64_t seed_flag = 0;
  EmbeddedAgentOptions embedded;
  TlsFiles tls_flags;
  po::options_description options = CommonOptions(&common);
  options.add(TlsOptions(&tls_flags));
  options.add_options()
      ("file", po::value(&file), "experiment file")
      ("json", po::bool_switch(&json), "print events as JSON lines (for CI)")
      ("plain", po::bool_switch(&plain),
       "plain event lines even on a terminal (no live view)")
      ("junit", po::value(&junit), "write a JUnit XML report to this file at the end")
      ("dry-run", po::bool_switch(&dry_run), "agents validate every fault; nothing is applied")
      ("inventory", po::value(&inventory_flag),
       "inventory file (wins over the experiment's inventory:)")
      ("seed", po::value(&seed_flag), "blast-radius seed (wins over the experiment's seed:)")
      ("speed", po::value(&speed_flag),
       "drills: time compression (10x), wins over the drill's speed:")
      ("lease-ttl", po::value(&lease_ttl_text)->default_value("10s"),
       "dead-man's switch: agents revert this run's faults if not renewed within this")
      ("agent-binary", po::value(&embedded.agent_binary), "faultline-agent for the embedded agent")
      ("embedded-dir", po::value(&embedded.base_dir)->default_value(embedded.base_dir),
       "state directory of embedded agents");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!ParseArgs(args, options, positional, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help") || file.empty()) {
    std::cout << "usage: faultline run FILE [--inventory FILE] [--seed N] [--speed 10x] "
                 "[--journal DB] [--json] "
                 "[--plain] [--junit FILE] [--dry-run] [--tls-ca F --tls-cert F --tls-key F]\n"
                 "On a terminal a live view shows the current step, active faults and probes; "
                 "lines typed while it runs are added as notes.\n"
              << options;
    return file.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  auto lease_ttl = ParseDuration(lease_ttl_text);
  if (!lease_ttl.ok() || lease_ttl->count() < 1000) {
    std::cerr << "faultline: --lease-ttl must be a duration of at least 1s\n";
    return kExitInvalid;
  }
  std::vector<Diagnostic> diagnostics;
  auto experiment = LoadExperiment(file, &diagnostics);
  if (!experiment.ok()) {
    if (diagnostics.empty()) std::cerr << file << ": " << experiment.status().message() << "\n";
    for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
    return kExitInvalid;
  }
  if (!speed_flag.empty()) {
    if (experiment->kind != "Drill") {
      std::cerr << "faultline: --speed is only for drills (kind: Drill); " << file << " is an "
                << experiment->kind << "\n";
      return kExitInvalid;
    }
    absl::StatusOr<double> speed = ParseSpeed(speed_flag);
    absl::Status rebuilt = speed.ok() ? absl::OkStatus() : speed.status();
    if (rebuilt.ok()) {
      experiment->speed = *speed;
      rebuilt = BuildDrillMethod(&*experiment);
    }
    if (!rebuilt.ok()) {
      std::cerr << "faultline: --speed: " << rebuilt.message() << "\n";
      return kExitInvalid;
    }
  }
  auto prepared = PrepareRun(&*experiment, inventory_flag,
                             vm.count("seed") ? std::optional<uint64_t>(seed_flag) : std::nullopt,
                             &diagnostics);
  if (!prepared.ok()) {
    if (diagnostics.empty()) std::cerr << file << ": " << prepared.status().message() << "\n";
    for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
    return kExitInvalid;
  }
  // The agents' TLS files, checked before anything starts (the Runner
  // builds the same transports).
  if (absl::StatusOr<AgentTls> tls = AgentTls::Create(
          prepared->inventory ? &*prepared->inventory : nullptr, tls_flags);
      !tls.ok()) {
    std::cerr << "faultline: " << tls.status().message() << "\n";
    return kExitInvalid;
  }
  auto store = OpenJournal(common);
  if (!store.ok()) {
    std::cerr << "faultline: " << store.status().message() << "\n";
    return kExitAborted;
  }

  std::unique_ptr<Notifier> notifier;
  if (experiment->notify.has_value()) {
    auto created = Notifier::Create(*experiment->notify);
    if (!created.ok()) {
      std::cerr << file << ": " << created.status().message() << "\n";
      return kExitInvalid;
    }
    notifier = std::move(*created);
  }

  // Game-day terminal: the live view when stdout is a terminal (not --json,
  // not --plain); typed lines become notes when stdin is a terminal this
  // process has in the foreground.
  const char* term = std::getenv("TERM");
  const bool live = !json && !plain && isatty(STDOUT_FILENO) == 1 &&
                    !(term != nullptr && std::string(term) == "dumb");
  const bool notes = isatty(STDIN_FILENO) == 1 && tcgetpgrp(STDIN_FILENO) == getpgrp();
  LiveViewOptions view_options;
  view_options.step_durations = StepDurations(experiment->method);
  view_options.notes_from_terminal = notes;
  // Shared with the signal thread, which outlives this function.
  auto view = std::make_shared<LiveView>(std::move(view_options));
  auto terminal = std::make_shared<LiveTerminal>(view, live && notes);

  StopSignal stop;
  RouteStopSignals(&stop, [terminal, live](const std::string& message) {
    if (live) {
      terminal->Print(message);
    } else {
      std::cerr << "\n" << message << "\n";
    }
  });
  InitProbes();

  RunOptions run_options;
  run_options.dry_run = dry_run;
  run_options.lease_ttl = *lease_ttl;
  run_options.inventory = prepared->inventory ? &*prepared->inventory : nullptr;
  run_options.default_seed = prepared->default_seed;
  run_options.tls = tls_flags;
  std::unique_ptr<EmbeddedAgent> agent;
  if (prepared->uses_embedded_agent) {
    auto started = EmbeddedAgent::Start(embedded);
    if (!started.ok()) {
      std::cerr << "faultline: " << started.status().message() << "\n";
      return kExitAborted;
    }
    agent = std::move(*started);
    run_options.embedded_address = agent->address();
  }

  std::mutex run_id_mu;
  std::string run_id;  // known from the first event
  auto print = [&](const Event& e) {
    {
      std::lock_guard lock(run_id_mu);
      if (run_id.empty()) run_id = e.run_id;
    }
    if (notifier) notifier->OnEvent(e);
    if (json) {
      nlohmann::json line = {{"ts_unix_ms", e.unix_ms}, {"run_id", e.run_id}, {"type", e.type},
                             {"data", e.data}};
      std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
      return;
    }
    if (IsAuditEvent(e)) return;
    if (live) {
      view->OnEvent(e);
      terminal->Print(absl::StrCat(Clock(e.unix_ms), "  ", DescribeEvent(e)));
      return;
    }
    std::cout << Clock(e.unix_ms) << "  " << DescribeEvent(e) << std::endl;
  };

  // Redraws the live view (time left, probe ages) between events.
  std::atomic<bool> run_done{false};
  std::thread redraw;
  if (live) {
    redraw = std::thread([&] {
      while (!run_done) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        if (!run_done) terminal->Redraw();
      }
    });
  }
  std::optional<NoteReader> note_reader;
  if (notes) {
    const std::string author = CurrentUser();
    note_reader.emplace(
        live,
        [&, author](const std::string& text) {
          std::string id;
          {
            std::lock_guard lock(run_id_mu);
            id = run_id;
          }
          std::string said;
          if (id.empty()) {
            said = "note not added: the run has not started yet";
          } else if (absl::Status added = (*store)->Append(
                         id, "note", {{"author", author}, {"text", text}, {"source", "terminal"}});
                     !added.ok()) {
            said = absl::StrCat("note not added: ", added.message());
          } else {
            said = absl::StrCat("note added (", author, "): ", text);
            view->NoteAdded(author, text);
          }
          if (live) {
            terminal->Print(absl::StrCat(Clock(NowUnixMs()), "  ", said));
          } else if (json) {
            std::cerr << said << std::endl;
          } else {
            std::cout << said << std::endl;
          }
        },
        [&](const std::string& partial) {
          if (live) terminal->SetInput(partial);
        });
  }

  Runner runner(*experiment, store->get(), &stop, run_options, print);
  auto outcome = runner.Run();
  run_done = true;
  if (redraw.joinable()) redraw.join();
  if (note_reader.has_value()) note_reader->Stop();
  if (live) terminal->Finish();
  agent.reset();  // stop the embedded agent (it reverts anything still active)
  if (notifier) {
    // The last updates (run.finished) get a few seconds; a dead webhook
    // cannot hold the exit longer than that.
    notifier->Close(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }
  if (!outcome.ok()) {
    std::cerr << "faultline: " << outcome.status().message() << "\n";
    return kExitAborted;
  }
  if (!junit.empty()) {
    auto run = (*store)->GetRun(outcome->run_id);
    auto events = (*store)->Events(outcome->run_id);
    if (run.ok() && events.ok()) {
      std::ofstream out(junit);
      out << RenderReport(ReportFormat::kJunit, *run, *events);
      if (!out) std::cerr << "faultline: cannot write " << junit << "\n";
    }
  }
  if (!json) {
    std::cout << "\nverdict: " << RunStatusName(outcome->status) << " — " << outcome->verdict
              << "\nrun id:  " << outcome->run_id << "   (faultline show " << outcome->run_id
              << ")\n";
  }
  return outcome->exit_code;
}

}  // namespace faultline::controller
