// faultline-stressor: the worker process behind cpu.pressure and
// memory.pressure. The agent spawns it (host/spawn.h) inside the fault's
// cgroup and kills it on revert; it also stops by itself on SIGTERM/SIGINT
// and when the process named by --parent-pid exits, so a crashed agent
// leaves no load behind.
//
//   faultline-stressor cpu --load PCT --workers N [--cores 0,1] [--parent-pid P]
//   faultline-stressor memory --bytes N [--ramp-ms M] [--parent-pid P]
//
// --ready-fd F: write one byte to F once running, then close it (the agent
// waits for it so that Apply fails cleanly if the stressor cannot start).
// --log-level L: trace, debug, info (default), warn, error, off.
// Exit status: 0 when stopped, 1 on a runtime error, 2 on bad flags.
//
// Why this file uses getopt_long, strtoll/strtod and a ten-line stderr
// logger instead of the project's usual Boost.Program_options, spdlog and
// Abseil: every cpu.pressure / memory.pressure Apply spawns this binary and
// waits for its ready byte, so its start-up time *is* Apply latency. Linked
// against those libraries it loaded 34 shared objects and took ~4.6 ms to
// start (--help), most of the 8.8 ms p50 apply-to-active of cpu.pressure.
// Keep its DT_NEEDED list at libc, libstdc++ and pthread: do not add
// dependencies here (nor include common/ headers that need linking).
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "agent/stressor/duty_cycle.h"
#include "common/unique_fd.h"  // header-only

namespace faultline::agent {
namespace {

constexpr std::chrono::nanoseconds kPeriod = std::chrono::milliseconds(100);
constexpr int kMaxWorkers = 1024;
constexpr int kMaxCore = 4095;

// ---- Logging: "2024-05-01T12:00:00.123 I faultline-stressor: key=value ..."
// on stderr, the line format the spdlog logger used to produce.

enum Level { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };
Level g_level = kInfo;

// The names spdlog::level::from_str accepted, so no caller breaks.
bool ParseLevel(std::string_view name, Level* level) {
  static constexpr struct {
    std::string_view name;
    Level level;
  } kNames[] = {{"trace", kTrace}, {"debug", kDebug},       {"info", kInfo},
                {"warn", kWarn},   {"warning", kWarn},      {"error", kError},
                {"err", kError},   {"critical", kCritical}, {"off", kOff}};
  for (const auto& entry : kNames) {
    if (entry.name == name) {
      *level = entry.level;
      return true;
    }
  }
  return false;
}

[[gnu::format(printf, 2, 3)]] void Log(Level level, const char* format, ...) {
  if (g_level == kOff || level < g_level) return;
  char line[1024];
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm local{};
  localtime_r(&now.tv_sec, &local);
  size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &local);
  n += static_cast<size_t>(snprintf(line + n, sizeof(line) - n, ".%03ld %c faultline-stressor: ",
                                    now.tv_nsec / 1'000'000, "TDIWEC"[level]));
  const size_t room = sizeof(line) - n - 1;  // keep one byte for '\n'
  va_list args;
  va_start(args, format);
  const int wanted = vsnprintf(line + n, room, format, args);
  va_end(args);
  n += std::min(static_cast<size_t>(std::max(wanted, 0)), room - 1);
  line[n++] = '\n';
  // One write(2) per line, so lines from a dying process are not interleaved
  // half-way; errors (EPIPE after the agent died) are ignored.
  for (size_t done = 0; done < n;) {
    const ssize_t w = write(STDERR_FILENO, line + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
}

std::string ErrnoMessage(int err, const std::string& what) {
  return what + ": " + std::strerror(err);
}

// ---- Flags

struct Flags {
  std::string mode;
  double load_pct = 0;
  int workers = 1;
  std::vector<int> cores;
  uint64_t bytes = 0;
  uint64_t ramp_ms = 0;
  int parent_pid = 0;
  int ready_fd = -1;
  std::string log_level = "info";
};

constexpr char kHelp[] =
    "faultline-stressor cpu|memory [options]:\n"
    "  --help                  show this help\n"
    "  --mode arg              cpu or memory\n"
    "  --load arg              cpu: load per worker, % of one core (0..100]\n"
    "  --workers arg (=1)      cpu: worker threads\n"
    "  --cores arg             cpu: cores to pin workers to, e.g. 0,1\n"
    "  --bytes arg             memory: bytes to keep resident\n"
    "  --ramp-ms arg (=0)      memory: spread the touching over this many ms\n"
    "  --parent-pid arg (=0)   exit when this process (our parent) exits\n"
    "  --ready-fd arg (=-1)    write one byte here once running\n"
    "  --log-level arg (=info) trace, debug, info, warn, error, off\n"
    "\n";

// getopt_long values; above any char so they never collide with '?'/':'.
enum Option {
  kOptHelp = 256,
  kOptMode,
  kOptLoad,
  kOptWorkers,
  kOptCores,
  kOptBytes,
  kOptRampMs,
  kOptParentPid,
  kOptReadyFd,
  kOptLogLevel,
  kOptEnd,
};

constexpr option kOptions[] = {
    {"help", no_argument, nullptr, kOptHelp},
    {"mode", required_argument, nullptr, kOptMode},
    {"load", required_argument, nullptr, kOptLoad},
    {"workers", required_argument, nullptr, kOptWorkers},
    {"cores", required_argument, nullptr, kOptCores},
    {"bytes", required_argument, nullptr, kOptBytes},
    {"ramp-ms", required_argument, nullptr, kOptRampMs},
    {"parent-pid", required_argument, nullptr, kOptParentPid},
    {"ready-fd", required_argument, nullptr, kOptReadyFd},
    {"log-level", required_argument, nullptr, kOptLogLevel},
    {nullptr, 0, nullptr, 0},
};

std::string OptionName(int val) {
  for (const option& o : kOptions) {
    if (o.name != nullptr && o.val == val) return std::string("--") + o.name;
  }
  return "?";
}

// Numbers: the whole string must be the number (no sign for unsigned, no
// leading blanks, no trailing junk, no overflow).
bool StartsLikeNumber(const char* text) {
  return text[0] != '\0' && !std::isspace(static_cast<unsigned char>(text[0]));
}

bool ParseInt(const char* text, int* out) {
  if (!StartsLikeNumber(text)) return false;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text, &end, 10);
  if (errno != 0 || *end != '\0' || value < INT_MIN || value > INT_MAX) return false;
  *out = static_cast<int>(value);
  return true;
}

bool ParseUint64(const char* text, uint64_t* out) {
  // strtoull would turn "-5" into 2^64-5.
  if (!StartsLikeNumber(text) || text[0] == '-') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = value;
  return true;
}

bool ParseDouble(const char* text, double* out) {
  if (!StartsLikeNumber(text)) return false;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text, &end);
  if (errno != 0 || *end != '\0') return false;
  *out = value;
  return true;
}

std::string FormatDouble(double value) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%g", value);
  return buf;
}

// What getopt_long rejected with '?': an unknown or ambiguous long option,
// an argument given to --help, or an unknown short option.
std::string RejectedOption(const char* arg, int optopt_value) {
  if (optopt_value >= kOptHelp) {
    return "option '" + OptionName(optopt_value) + "' does not take any arguments";
  }
  if (optopt_value > 0) return std::string("unrecognised option '-") + char(optopt_value) + "'";
  std::string_view name(arg);
  if (name.substr(0, 2) == "--") {
    name = name.substr(2, name.find('=') == std::string_view::npos ? name.npos : name.find('=') - 2);
    std::string matches;
    int count = 0;
    for (const option& o : kOptions) {
      if (o.name != nullptr && std::string_view(o.name).substr(0, name.size()) == name) {
        matches += std::string(count++ ? ", " : "") + "'--" + o.name + "'";
      }
    }
    if (count > 1) {
      return "option '--" + std::string(name) + "' is ambiguous and matches " + matches;
    }
  }
  return std::string("unrecognised option '") + arg + "'";
}

// Parses and validates; false with *error set on bad flags. --help prints
// the usage and sets mode "help".
bool ParseFlags(int argc, char** argv, Flags* flags, std::string* error) {
  bool seen[kOptEnd - kOptHelp] = {};
  bool have_mode = false;
  bool mode_from_flag = false;
  std::string cores;
  auto set_mode = [&](const char* mode, bool from_flag) {
    if (have_mode) {
      *error = mode_from_flag || from_flag
                   ? "flags: option '--mode' cannot be specified more than once"
                   : "flags: too many positional options have been specified on the command line";
      return false;
    }
    flags->mode = mode;
    have_mode = true;
    mode_from_flag = from_flag;
    return true;
  };

  opterr = 0;  // we report errors ourselves
  // "-": positional arguments come back in order as 1 (also under
  // POSIXLY_CORRECT); ":": a missing argument comes back as ':'.
  int opt;
  while ((opt = getopt_long(argc, argv, "-:", kOptions, nullptr)) != -1) {
    if (opt == 1) {
      if (!set_mode(optarg, false)) return false;
      continue;
    }
    if (opt == ':') {
      *error = "flags: the required argument for option '" + OptionName(optopt) + "' is missing";
      return false;
    }
    if (opt < kOptHelp || opt >= kOptEnd) {
      *error = "flags: " + RejectedOption(argv[optind - 1], optopt);
      return false;
    }
    if (opt != kOptMode && seen[opt - kOptHelp]) {
      *error = "flags: option '" + OptionName(opt) + "' cannot be specified more than once";
      return false;
    }
    seen[opt - kOptHelp] = true;
    bool ok = true;
    switch (opt) {
      case kOptHelp: break;
      case kOptMode:
        if (!set_mode(optarg, true)) return false;
        break;
      case kOptLoad: ok = ParseDouble(optarg, &flags->load_pct); break;
      case kOptWorkers: ok = ParseInt(optarg, &flags->workers); break;
      case kOptCores: cores = optarg; break;
      case kOptBytes: ok = ParseUint64(optarg, &flags->bytes); break;
      case kOptRampMs: ok = ParseUint64(optarg, &flags->ramp_ms); break;
      case kOptParentPid: ok = ParseInt(optarg, &flags->parent_pid); break;
      case kOptReadyFd: ok = ParseInt(optarg, &flags->ready_fd); break;
      case kOptLogLevel: flags->log_level = optarg; break;
    }
    if (!ok) {
      *error = std::string("flags: the argument ('") + optarg + "') for option '" +
               OptionName(opt) + "' is invalid";
      return false;
    }
  }
  for (int i = optind; i < argc; ++i) {  // after "--"
    if (!set_mode(argv[i], false)) return false;
  }

  if (seen[kOptHelp - kOptHelp]) {
    fputs(kHelp, stdout);
    flags->mode = "help";
    return true;
  }
  if (flags->mode == "cpu") {
    if (!seen[kOptLoad - kOptHelp] || !(flags->load_pct > 0 && flags->load_pct <= 100)) {
      *error = "--load must be in (0, 100], got " + FormatDouble(flags->load_pct);
      return false;
    }
    if (flags->workers < 1 || flags->workers > kMaxWorkers) {
      *error = "--workers must be 1.." + std::to_string(kMaxWorkers) + ", got " +
               std::to_string(flags->workers);
      return false;
    }
    size_t start = 0;
    while (start <= cores.size()) {
      size_t comma = cores.find(',', start);
      if (comma == std::string::npos) comma = cores.size();
      const std::string part = cores.substr(start, comma - start);
      start = comma + 1;
      if (part.empty()) continue;
      int core = -1;
      if (!ParseInt(part.c_str(), &core) || core < 0 || core > kMaxCore) {
        *error = "--cores: bad core '" + part + "'";
        return false;
      }
      flags->cores.push_back(core);
    }
  } else if (flags->mode == "memory") {
    if (flags->bytes == 0) {
      *error = "--bytes must be > 0";
      return false;
    }
  } else {
    *error = "mode must be cpu or memory, got '" + flags->mode + "'";
    return false;
  }
  return true;
}

// ---- Workers

int64_t NowNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void SleepUntilNs(int64_t monotonic_ns) {
  timespec ts{};
  ts.tv_sec = monotonic_ns / 1'000'000'000;
  ts.tv_nsec = monotonic_ns % 1'000'000'000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// One worker: burns its DutyCycle budget of *thread CPU time* per period,
// then sleeps to the period's end on an absolute deadline (so wake-up
// latency does not stretch periods). Spinning until CPU time, not wall
// time, has reached the budget is what keeps the achieved load right when
// the scheduler preempts us; the DutyCycle carries what is still missing.
void CpuWorker(double load_pct, const std::atomic<bool>* stop) {
  DutyCycle cycle(load_pct / 100.0, kPeriod);
  int64_t period_start = NowNs(CLOCK_MONOTONIC);
  while (!stop->load(std::memory_order_relaxed)) {
    const int64_t period_end = period_start + kPeriod.count();
    const int64_t cpu_start = NowNs(CLOCK_THREAD_CPUTIME_ID);
    const int64_t budget = cycle.Budget().count();
    while (NowNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start < budget &&
           NowNs(CLOCK_MONOTONIC) < period_end) {
    }
    SleepUntilNs(period_end);
    cycle.Record(std::chrono::nanoseconds(NowNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start));
    period_start = period_end;
    // Far behind (the stressor was stopped, e.g. by process.pause): restart
    // the schedule instead of running catch-up periods without sleep.
    const int64_t now = NowNs(CLOCK_MONOTONIC);
    if (now > period_start + kPeriod.count()) period_start = now;
  }
}

// Returns an error message, empty on success.
std::string PinThread(std::thread& thread, int core) {
  cpu_set_t* set = CPU_ALLOC(kMaxCore + 1);
  if (set == nullptr) return "allocate cpu set";
  const size_t size = CPU_ALLOC_SIZE(kMaxCore + 1);
  CPU_ZERO_S(size, set);
  CPU_SET_S(core, size, set);
  int rc = pthread_setaffinity_np(thread.native_handle(), size, set);
  CPU_FREE(set);
  if (rc != 0) return ErrnoMessage(rc, "pin worker to core " + std::to_string(core));
  return "";
}

// Touches one byte per page so that every page becomes resident, either at
// once or spread evenly over ramp_ms.
void MemoryToucher(volatile char* base, uint64_t bytes, uint64_t ramp_ms,
                   const std::atomic<bool>* stop) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t pages = (bytes + page - 1) / page;
  constexpr uint64_t kChunkPages = 512;  // check for stop every 2 MiB
  const int64_t start = NowNs(CLOCK_MONOTONIC);
  uint64_t done = 0;
  while (done < pages && !stop->load(std::memory_order_relaxed)) {
    uint64_t target = pages;
    if (ramp_ms > 0) {
      const double fraction =
          static_cast<double>(NowNs(CLOCK_MONOTONIC) - start) / (static_cast<double>(ramp_ms) * 1e6);
      target = std::min<uint64_t>(pages, static_cast<uint64_t>(fraction * static_cast<double>(pages)));
    }
    if (done >= target) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    const uint64_t end = std::min(target, done + kChunkPages);
    for (; done < end; ++done) base[done * page] = 1;
  }
}

// Returns an error message, empty on success.
std::string WriteOomScoreAdj() {
  UniqueFd fd(open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoMessage(errno, "open /proc/self/oom_score_adj");
  if (write(fd.get(), "1000", 4) != 4) return ErrnoMessage(errno, "write /proc/self/oom_score_adj");
  return "";
}

enum class Watch { kWatching, kParentGone, kError };

// The parent is watched through a pidfd rather than PR_SET_PDEATHSIG: the
// latter fires when the *thread* that forked us exits, and the agent forks
// from short-lived gRPC threads.
Watch WatchParent(int parent_pid, UniqueFd* pidfd, std::string* error) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, parent_pid, 0));
  if (fd < 0) {
    if (errno == ESRCH) return Watch::kParentGone;
    *error = ErrnoMessage(errno, "pidfd_open parent " + std::to_string(parent_pid));
    return Watch::kError;
  }
  UniqueFd owned(fd);
  // If the parent died before the open, its pid may already belong to
  // someone else; we would then have been reparented.
  if (getppid() != parent_pid) return Watch::kParentGone;
  *pidfd = std::move(owned);
  return Watch::kWatching;
}

int Run(const Flags& flags) {
  // Our stderr may be a pipe whose reader died with the agent; a log line
  // must not turn into SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  // Blocked before any thread starts, so every thread inherits the mask and
  // the signals are read from the signalfd by this thread only.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  UniqueFd signals(signalfd(-1, &stop_signals, SFD_CLOEXEC));
  if (!signals.valid()) {
    Log(kError, "stressor failed error=\"signalfd: %s\"", std::strerror(errno));
    return 1;
  }

  UniqueFd parent;
  if (flags.parent_pid > 0) {
    std::string error;
    switch (WatchParent(flags.parent_pid, &parent, &error)) {
      case Watch::kWatching: break;
      case Watch::kParentGone:
        Log(kInfo, "stressor stopping reason=parent-gone parent_pid=%d", flags.parent_pid);
        return 0;
      case Watch::kError:
        Log(kError, "stressor failed error=\"%s\"", error.c_str());
        return 1;
    }
  }

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  void* mapping = MAP_FAILED;
  auto fail = [&](const std::string& error) {
    stop = true;
    for (std::thread& t : threads) t.join();
    Log(kError, "stressor failed mode=%s error=\"%s\"", flags.mode.c_str(), error.c_str());
    return 1;
  };

  try {
    if (flags.mode == "cpu") {
      for (int i = 0; i < flags.workers; ++i) {
        threads.emplace_back(CpuWorker, flags.load_pct, &stop);
        if (!flags.cores.empty()) {
          std::string error = PinThread(threads.back(), flags.cores[i % flags.cores.size()]);
          if (!error.empty()) return fail(error);
        }
      }
      Log(kInfo, "stressor started mode=cpu load_pct=%g workers=%d cores=%zu pid=%d",
          flags.load_pct, flags.workers, flags.cores.size(), getpid());
    } else {
      if (std::string error = WriteOomScoreAdj(); !error.empty()) return fail(error);
      mapping =
          mmap(nullptr, flags.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mapping == MAP_FAILED) {
        return fail(ErrnoMessage(errno, "mmap " + std::to_string(flags.bytes) + " bytes"));
      }
      threads.emplace_back(MemoryToucher, static_cast<volatile char*>(mapping), flags.bytes,
                           flags.ramp_ms, &stop);
      Log(kInfo, "stressor started mode=memory bytes=%llu ramp_ms=%llu pid=%d",
          static_cast<unsigned long long>(flags.bytes),
          static_cast<unsigned long long>(flags.ramp_ms), getpid());
    }
  } catch (const std::system_error& e) {  // std::thread could not start one (EAGAIN)
    return fail(std::string("start worker thread: ") + e.what());
  }

  if (flags.ready_fd >= 0) {
    ssize_t ignored = write(flags.ready_fd, "1", 1);
    (void)ignored;
    close(flags.ready_fd);
  }

  pollfd fds[2] = {{signals.get(), POLLIN, 0}, {parent.valid() ? parent.get() : -1, POLLIN, 0}};
  while (poll(fds, 2, -1) < 0 && errno == EINTR) {
  }
  const char* reason = (fds[0].revents & POLLIN) ? "signal" : "parent-exit";
  stop = true;
  for (std::thread& t : threads) t.join();
  if (mapping != MAP_FAILED) munmap(mapping, flags.bytes);
  Log(kInfo, "stressor stopping reason=%s mode=%s", reason, flags.mode.c_str());
  return 0;
}

}  // namespace
}  // namespace faultline::agent

int main(int argc, char** argv) {
  using namespace faultline::agent;
  Flags flags;
  std::string error;
  if (!ParseFlags(argc, argv, &flags, &error)) {
    fprintf(stderr, "faultline-stressor: %s\n", error.c_str());
    return 2;
  }
  if (flags.mode == "help") return 0;
  if (!ParseLevel(flags.log_level, &g_level)) {
    fprintf(stderr, "faultline-stressor: unknown --log-level '%s'\n", flags.log_level.c_str());
    return 2;
  }
  return Run(flags);
}
