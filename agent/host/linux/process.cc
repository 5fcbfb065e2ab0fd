#include "agent/host/process.h"

#include <dirent.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/host/linux/read_file.h"
#include "common/status.h"

namespace faultline::agent {
long ClockTicksPerSecond() {
  static const long ticks = sysconf(_SC_CLK_TCK);
  return ticks;
}

absl::StatusOr<ProcessInfo> ReadProcess(pid_t pid) {
  std::string base = absl::StrCat("/proc/", pid);
  auto stat = ReadFile(base + "/stat");
  // A process reaped between open() and read() yields ESRCH from read, which
  // the stream reports as an empty file: that is "gone", not a parse error.
  if (!stat.ok() || stat->empty()) {
    return absl::NotFoundError(absl::StrCat("process ", pid, " not found"));
  }
  ProcessInfo info;
  info.pid = pid;
  // comm is in parentheses and may itself contain ") ": split at the last ')'.
  size_t open = stat->find('(');
  size_t close = stat->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= stat->size()) {
    return absl::InternalError(absl::StrCat("parse ", base, "/stat"));
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*stat).substr(close + 2), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state); field N is fields[N-3].
  if (fields.size() < 22) return absl::InternalError(absl::StrCat("parse ", base, "/stat"));
  info.state = fields[0].empty() ? '?' : fields[0][0];
  uint64_t utime = 0, stime = 0, rss_pages = 0;
  int ppid = 0;
  unsigned flags = 0;
  if (!absl::SimpleAtoi(fields[1], &ppid) || !absl::SimpleAtoi(fields[6], &flags) ||
      !absl::SimpleAtoi(fields[11], &utime) || !absl::SimpleAtoi(fields[12], &stime) ||
      !absl::SimpleAtoi(fields[19], &info.start_time) ||
      !absl::SimpleAtoi(fields[21], &rss_pages)) {
    return absl::InternalError(absl::StrCat("parse ", base, "/stat"));
  }
  info.ppid = ppid;
  info.cpu_ticks = utime + stime;
  info.rss_bytes = rss_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  constexpr unsigned kPfKthread = 0x00200000;
  info.kernel_thread = (flags & kPfKthread) != 0;
  auto comm = ReadFile(base + "/comm");
  if (comm.ok()) {
    info.comm = *comm;
    while (!info.comm.empty() && info.comm.back() == '\n') info.comm.pop_back();
  } else {
    info.comm = std::string(stat->substr(open + 1, close - open - 1));
  }
  auto cmdline = ReadFile(base + "/cmdline");
  if (cmdline.ok()) {
    info.cmdline = *cmdline;
    while (!info.cmdline.empty() && info.cmdline.back() == '\0') info.cmdline.pop_back();
    for (char& c : info.cmdline) {
      if (c == '\0') c = ' ';
    }
  }
  return info;
}

absl::StatusOr<std::vector<ProcessInfo>> ListProcesses() {
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return ErrnoToStatus(errno, "open /proc");
  std::vector<ProcessInfo> out;
  while (dirent* entry = readdir(dir)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid <= 0) continue;
    auto info = ReadProcess(pid);
    if (info.ok()) out.push_back(std::move(*info));
  }
  closedir(dir);
  return out;
}

bool IsThreadGroupLeader(pid_t pid) {
  auto status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return false;
  size_t at = status->find("\nTgid:");
  if (at == std::string::npos) return false;
  pid_t tgid = 0;
  size_t end = status->find('\n', at + 1);
  std::string value(absl::StripAsciiWhitespace(
      absl::string_view(*status).substr(at + 6, end == std::string::npos ? absl::string_view::npos : end - at - 6)));
  return absl::SimpleAtoi(value, &tgid) && tgid == pid;
}

std::vector<pid_t> AncestorsOf(pid_t pid) {
  std::vector<pid_t> chain;
  while (pid > 0 && chain.size() < 4096) {
    chain.push_back(pid);
    if (pid == 1) break;
    auto info = ReadProcess(pid);
    if (!info.ok()) break;
    pid = info->ppid;
  }
  return chain;
}

absl::StatusOr<PidFd> PidFd::Open(pid_t pid, uint64_t expected_start_time) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    if (errno == ESRCH) return absl::NotFoundError(absl::StrCat("process ", pid, " has exited"));
    // A thread id that is not a thread-group leader: ENOENT on recent
    // kernels, EINVAL on older ones (which also use it for pid <= 0).
    if (errno == ENOENT || errno == EINVAL) {
      return absl::NotFoundError(absl::StrCat("pid ", pid, " is not a process (thread id?)"));
    }
    return ErrnoToStatus(errno, absl::StrCat("pidfd_open ", pid));
  }
  UniqueFd owned(fd);
  // The pidfd now pins this exact process; if its start time differs the pid
  // was reused between our scan and the open.
  auto info = ReadProcess(pid);
  if (!info.ok() || info->start_time != expected_start_time) {
    return absl::NotFoundError(
        absl::StrCat("process ", pid, " has exited (pid reused or gone)"));
  }
  return PidFd(std::move(owned), pid);
}

absl::Status PidFd::Signal(int signal) const {
  if (syscall(SYS_pidfd_send_signal, fd_.get(), signal, nullptr, 0) != 0) {
    if (errno == ESRCH) return absl::NotFoundError(absl::StrCat("process ", pid_, " has exited"));
    return ErrnoToStatus(errno, absl::StrCat("signal ", signal, " to pid ", pid_));
  }
  return absl::OkStatus();
}

bool PidFd::Exited() const {
  pollfd p{fd_.get(), POLLIN, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

}  // namespace faultline::agent
