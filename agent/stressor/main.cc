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
// Exit status: 0 when stopped, 1 on a runtime error, 2 on bad flags.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/stressor/duty_cycle.h"
#include "boost/program_options.hpp"
#include "common/status.h"
#include "common/unique_fd.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace faultline::agent {
namespace {

namespace po = boost::program_options;

constexpr std::chrono::nanoseconds kPeriod = std::chrono::milliseconds(100);
constexpr int kMaxWorkers = 1024;
constexpr int kMaxCore = 4095;

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

// Boost.Program_options throws; this is the one place that turns its
// exceptions into a Status.
absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  std::string cores;
  po::options_description desc("faultline-stressor cpu|memory [options]");
  desc.add_options()
      ("help", "show this help")
      ("mode", po::value<std::string>(&flags.mode), "cpu or memory")
      ("load", po::value<double>(&flags.load_pct), "cpu: load per worker, % of one core (0..100]")
      ("workers", po::value<int>(&flags.workers)->default_value(1), "cpu: worker threads")
      ("cores", po::value<std::string>(&cores), "cpu: cores to pin workers to, e.g. 0,1")
      ("bytes", po::value<uint64_t>(&flags.bytes), "memory: bytes to keep resident")
      ("ramp-ms", po::value<uint64_t>(&flags.ramp_ms)->default_value(0),
       "memory: spread the touching over this many ms")
      ("parent-pid", po::value<int>(&flags.parent_pid)->default_value(0),
       "exit when this process (our parent) exits")
      ("ready-fd", po::value<int>(&flags.ready_fd)->default_value(-1),
       "write one byte here once running")
      ("log-level", po::value<std::string>(&flags.log_level)->default_value("info"),
       "trace, debug, info, warn, error, off");
  po::positional_options_description positional;
  positional.add("mode", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("flags: ", e.what()));
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    flags.mode = "help";
    return flags;
  }
  if (flags.mode == "cpu") {
    if (!vm.count("load") || !(flags.load_pct > 0 && flags.load_pct <= 100)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--load must be in (0, 100], got ", flags.load_pct));
    }
    if (flags.workers < 1 || flags.workers > kMaxWorkers) {
      return absl::InvalidArgumentError(
          absl::StrCat("--workers must be 1..", kMaxWorkers, ", got ", flags.workers));
    }
    for (absl::string_view part : absl::StrSplit(cores, ',', absl::SkipEmpty())) {
      int core = -1;
      if (!absl::SimpleAtoi(part, &core) || core < 0 || core > kMaxCore) {
        return absl::InvalidArgumentError(absl::StrCat("--cores: bad core '", part, "'"));
      }
      flags.cores.push_back(core);
    }
  } else if (flags.mode == "memory") {
    if (flags.bytes == 0) return absl::InvalidArgumentError("--bytes must be > 0");
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("mode must be cpu or memory, got '", flags.mode, "'"));
  }
  return flags;
}

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

absl::Status PinThread(std::thread& thread, int core) {
  cpu_set_t* set = CPU_ALLOC(kMaxCore + 1);
  if (set == nullptr) return absl::ResourceExhaustedError("allocate cpu set");
  const size_t size = CPU_ALLOC_SIZE(kMaxCore + 1);
  CPU_ZERO_S(size, set);
  CPU_SET_S(core, size, set);
  int rc = pthread_setaffinity_np(thread.native_handle(), size, set);
  CPU_FREE(set);
  if (rc != 0) return ErrnoToStatus(rc, absl::StrCat("pin worker to core ", core));
  return absl::OkStatus();
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

absl::Status WriteOomScoreAdj() {
  UniqueFd fd(open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, "open /proc/self/oom_score_adj");
  if (write(fd.get(), "1000", 4) != 4) return ErrnoToStatus(errno, "write /proc/self/oom_score_adj");
  return absl::OkStatus();
}

// The parent is watched through a pidfd rather than PR_SET_PDEATHSIG: the
// latter fires when the *thread* that forked us exits, and the agent forks
// from short-lived gRPC threads.
absl::StatusOr<UniqueFd> WatchParent(int parent_pid) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, parent_pid, 0));
  if (fd < 0) {
    if (errno == ESRCH) return absl::NotFoundError(absl::StrCat("parent ", parent_pid, " is gone"));
    return ErrnoToStatus(errno, absl::StrCat("pidfd_open parent ", parent_pid));
  }
  UniqueFd owned(fd);
  // If the parent died before the open, its pid may already belong to
  // someone else; we would then have been reparented.
  if (getppid() != parent_pid) {
    return absl::NotFoundError(absl::StrCat("parent ", parent_pid, " is gone"));
  }
  return owned;
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
    spdlog::error("stressor failed error=\"signalfd: {}\"", std::strerror(errno));
    return 1;
  }

  UniqueFd parent;
  if (flags.parent_pid > 0) {
    auto watched = WatchParent(flags.parent_pid);
    if (absl::IsNotFound(watched.status())) {
      spdlog::info("stressor stopping reason=parent-gone parent_pid={}", flags.parent_pid);
      return 0;
    }
    if (!watched.ok()) {
      spdlog::error("stressor failed error=\"{}\"", std::string(watched.status().message()));
      return 1;
    }
    parent = std::move(*watched);
  }

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  void* mapping = MAP_FAILED;
  auto fail = [&](const absl::Status& status) {
    stop = true;
    for (std::thread& t : threads) t.join();
    spdlog::error("stressor failed mode={} error=\"{}\"", flags.mode, std::string(status.message()));
    return 1;
  };

  if (flags.mode == "cpu") {
    for (int i = 0; i < flags.workers; ++i) {
      threads.emplace_back(CpuWorker, flags.load_pct, &stop);
      if (!flags.cores.empty()) {
        absl::Status pinned = PinThread(threads.back(), flags.cores[i % flags.cores.size()]);
        if (!pinned.ok()) return fail(pinned);
      }
    }
    spdlog::info("stressor started mode=cpu load_pct={} workers={} cores={} pid={}",
                 flags.load_pct, flags.workers, flags.cores.size(), getpid());
  } else {
    if (absl::Status s = WriteOomScoreAdj(); !s.ok()) return fail(s);
    mapping = mmap(nullptr, flags.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) {
      return fail(ErrnoToStatus(errno, absl::StrCat("mmap ", flags.bytes, " bytes")));
    }
    threads.emplace_back(MemoryToucher, static_cast<volatile char*>(mapping), flags.bytes,
                         flags.ramp_ms, &stop);
    spdlog::info("stressor started mode=memory bytes={} ramp_ms={} pid={}", flags.bytes,
                 flags.ramp_ms, getpid());
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
  spdlog::info("stressor stopping reason={} mode={}", reason, flags.mode);
  return 0;
}

}  // namespace
}  // namespace faultline::agent

int main(int argc, char** argv) {
  using namespace faultline::agent;
  auto logger = spdlog::stderr_logger_st("faultline-stressor");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %n: %v");
  spdlog::set_default_logger(logger);
  auto flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    std::cerr << "faultline-stressor: " << flags.status().message() << "\n";
    return 2;
  }
  if (flags->mode == "help") return 0;
  spdlog::level::level_enum level = spdlog::level::from_str(flags->log_level);
  if (level == spdlog::level::off && flags->log_level != "off") {
    std::cerr << "faultline-stressor: unknown --log-level '" << flags->log_level << "'\n";
    return 2;
  }
  spdlog::set_level(level);
  return Run(*flags);
}
