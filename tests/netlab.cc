#include "tests/netlab.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "re2/re2.h"

namespace faultline::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> lab_counter{0};

std::string Errno(const std::string& what) {
  return absl::StrCat(what, ": ", std::strerror(errno));
}

// An fd closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool ParseAddress(const std::string& text, sockaddr_storage* out, socklen_t* len) {
  std::memset(out, 0, sizeof(*out));
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

uint16_t Checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (len % 2) sum += data[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

double RealtimeMs(const timespec& ts) { return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6; }

double NowRealtimeMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return RealtimeMs(ts);
}

// Measurement loops run on a real-time thread so that a busy host (parallel
// builds) does not add its scheduling latency to the figures. Best effort.
void SetRealtime() {
  sched_param param{};
  param.sched_priority = 1;
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
}

// Runs fn on a fresh real-time thread and waits for it.
void RunRealtime(const std::function<void()>& fn) {
  std::thread thread([&] {
    SetRealtime();
    fn();
  });
  thread.join();
}

int PollFor(int fd, Clock::time_point deadline) {
  auto left = deadline - Clock::now();
  if (left < Clock::duration::zero()) left = Clock::duration::zero();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  pollfd p{fd, POLLIN, 0};
  return ppoll(&p, 1, &ts, nullptr);
}

}  // namespace

std::string NetLabScript() { return std::string(FAULTLINE_SOURCE_DIR) + "/scripts/netlab"; }

// Labs whose test process died without running destructors (SIGKILL, a
// crash, a closed output pipe) are removed by the next lab created on this
// machine: their names carry the owner's pid.
static void RemoveOrphanLabs() {
  std::set<std::string> orphans;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    std::string name = entry.path().filename().string();
    int pid = 0, index = 0;
    char rest[32] = {};
    if (std::sscanf(name.c_str(), "fl%dn%d-%31s", &pid, &index, rest) != 3 || pid <= 0) continue;
    std::string lab = absl::StrCat("fl", pid, "n", index);
    if (name != lab + "-sw" && name.rfind(lab + "-h", 0) != 0) continue;
    if (kill(pid, 0) != 0 && errno == ESRCH) orphans.insert(lab);
  }
  for (const std::string& lab : orphans) RunCommand({NetLabScript(), "down", lab}, nullptr);
}

absl::StatusOr<std::unique_ptr<NetLab>> NetLab::Create(int hosts) {
  RemoveOrphanLabs();
  std::string name = absl::StrCat("fl", getpid(), "n", lab_counter++);
  std::string output;
  int rc = RunCommand({NetLabScript(), "up", name, std::to_string(hosts)}, &output);
  if (rc != 0) {
    RunCommand({NetLabScript(), "down", name}, nullptr);
    return absl::InternalError(absl::StrCat("netlab up ", name, " failed (", rc, "): ", output));
  }
  return std::unique_ptr<NetLab>(new NetLab(name, hosts));
}

NetLab::~NetLab() { RunCommand({NetLabScript(), "down", name_}, nullptr); }

std::string NetLab::Namespace(int host) const { return absl::StrCat(name_, "-h", host); }

std::string NetLab::Address(int host) { return absl::StrCat("198.18.0.", host + 1); }

std::string NetLab::Address6(int host) { return absl::StrCat("fd00:198:18::", host + 1); }

int NetLab::Exec(int host, const std::vector<std::string>& argv, std::string* output,
                 std::chrono::milliseconds timeout) const {
  std::vector<std::string> full = {"/usr/sbin/ip", "netns", "exec", Namespace(host)};
  full.insert(full.end(), argv.begin(), argv.end());
  return RunCommand(full, output, timeout);
}

Child NetLab::Spawn(int host, const std::vector<std::string>& argv,
                    const std::string& log_file) const {
  std::vector<std::string> full = {"/usr/sbin/ip", "netns", "exec", Namespace(host)};
  full.insert(full.end(), argv.begin(), argv.end());
  return Child(full, log_file);
}

absl::Status NetLab::RunIn(int host, const std::function<absl::Status()>& fn) const {
  absl::Status status;
  std::string path = "/run/netns/" + Namespace(host);
  std::thread thread([&] {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      status = absl::NotFoundError(Errno("open " + path));
      return;
    }
    // Only this thread changes namespace; it ends right after fn.
    if (setns(fd, CLONE_NEWNET) != 0) {
      status = absl::InternalError(Errno("setns " + path));
      close(fd);
      return;
    }
    close(fd);
    status = fn();
  });
  thread.join();
  return status;
}

std::unique_ptr<LabAgent> NetLab::StartAgent(int host, const std::string& state_dir,
                                             const std::vector<std::string>& extra_flags) const {
  auto agent = std::make_unique<LabAgent>();
  if (state_dir.empty()) {
    agent->own_dir = std::make_unique<TempDir>();
    agent->state_dir = agent->own_dir->path();
  } else {
    agent->state_dir = state_dir;
  }
  agent->log_file = agent->state_dir + "/agent.log";
  std::string ready = agent->state_dir + "/ready";
  unlink(ready.c_str());
  std::vector<std::string> argv = {BinDir() + "/faultline-agent",
                                   "--listen",
                                   "unix:" + agent->state_dir + "/agent.sock",
                                   "--state-dir",
                                   agent->state_dir,
                                   "--ready-file",
                                   ready,
                                   "--log-level",
                                   "info"};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  agent->child = Spawn(host, argv, agent->log_file);
  agent->address = WaitForFile(ready, std::chrono::seconds(10));
  return agent;
}

absl::StatusOr<PingResult> NetLab::Ping(int from, const std::string& to_address, int count,
                                        std::chrono::microseconds interval,
                                        std::chrono::milliseconds grace) const {
  if (count < 1 || count > 65535) return absl::InvalidArgumentError("ping count must be 1..65535");
  sockaddr_storage to;
  socklen_t to_len = 0;
  if (!ParseAddress(to_address, &to, &to_len)) {
    return absl::InvalidArgumentError("bad ping address " + to_address);
  }
  const bool v6 = to.ss_family == AF_INET6;
  int raw = -1;
  absl::Status opened = RunIn(from, [&]() -> absl::Status {
    raw = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC,
                 v6 ? static_cast<int>(IPPROTO_ICMPV6) : static_cast<int>(IPPROTO_ICMP));
    if (raw < 0) return absl::InternalError(Errno("icmp socket"));
    return absl::OkStatus();
  });
  if (!opened.ok()) return opened;
  Fd fd(raw);
  int rcvbuf = 4 << 20;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (v6) {
    icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
    setsockopt(fd.get(), IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter));
  }
  static std::atomic<uint16_t> next_id{static_cast<uint16_t>(getpid() * 31)};
  const uint16_t id = next_id++;

  std::vector<double> sent_at(count, 0.0);
  std::vector<double> rtt(count, -1.0);
  PingResult result;
  uint8_t packet[64] = {};
  const auto start = Clock::now();
  auto next_send = start;
  Clock::time_point last_send = start;

  auto drain = [&] {
    uint8_t buf[2048];
    char control[256];
    for (;;) {
      iovec iov{buf, sizeof(buf)};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = recvmsg(fd.get(), &msg, MSG_DONTWAIT);
      if (n < 0) return;
      const double received_at = NowRealtimeMs();
      size_t offset = 0;
      if (!v6) {
        if (n < 20) continue;
        offset = (buf[0] & 0x0f) * 4;
      }
      if (static_cast<size_t>(n) < offset + 8) continue;
      const uint8_t* icmp = buf + offset;
      uint8_t want_type = v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY;
      if (icmp[0] != want_type) continue;
      uint16_t got_id = (icmp[4] << 8) | icmp[5];
      uint16_t seq = (icmp[6] << 8) | icmp[7];
      if (got_id != id || seq >= count || sent_at[seq] == 0.0 || rtt[seq] >= 0) continue;
      // Read time, not a kernel receive timestamp: the kernel stamps a
      // packet before ingress hooks and IFBs, so it would hide ingress faults.
      rtt[seq] = received_at - sent_at[seq];
      ++result.received;
    }
  };

  RunRealtime([&] {
    next_send = Clock::now();
    last_send = next_send;
    while (true) {
      auto now = Clock::now();
      if (result.sent < count && now >= next_send) {
        std::memset(packet, 0, sizeof(packet));
        packet[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
        packet[4] = id >> 8;
        packet[5] = id & 0xff;
        packet[6] = result.sent >> 8;
        packet[7] = result.sent & 0xff;
        for (size_t i = 8; i < sizeof(packet); ++i) packet[i] = static_cast<uint8_t>(i);
        if (!v6) {
          uint16_t sum = Checksum(packet, sizeof(packet));
          std::memcpy(packet + 2, &sum, 2);
        }
        sent_at[result.sent] = NowRealtimeMs();
        // A send error (e.g. ENOBUFS) still counts as sent: the packet is lost.
        sendto(fd.get(), packet, sizeof(packet), 0, reinterpret_cast<sockaddr*>(&to), to_len);
        ++result.sent;
        last_send = Clock::now();
        next_send += interval;
        continue;
      }
      if (result.sent == count && (result.received == count || now >= last_send + grace)) break;
      PollFor(fd.get(), result.sent < count ? next_send : last_send + grace);
      drain();
    }
  });
  result.loss_pct = 100.0 * (result.sent - result.received) / result.sent;
  double sum = 0, sum2 = 0;
  for (double r : rtt) {
    if (r < 0) continue;
    result.rtts_ms.push_back(r);
    sum += r;
    sum2 += r * r;
  }
  if (!result.rtts_ms.empty()) {
    double n = static_cast<double>(result.rtts_ms.size());
    result.rtt_min_ms = *std::min_element(result.rtts_ms.begin(), result.rtts_ms.end());
    result.rtt_max_ms = *std::max_element(result.rtts_ms.begin(), result.rtts_ms.end());
    result.rtt_avg_ms = sum / n;
    result.rtt_mdev_ms = std::sqrt(std::max(0.0, sum2 / n - result.rtt_avg_ms * result.rtt_avg_ms));
  }
  return result;
}

absl::StatusOr<UdpResult> NetLab::UdpLoss(int from, int to, const std::string& to_address,
                                          int count, std::chrono::microseconds interval,
                                          int port, std::chrono::milliseconds grace) const {
  sockaddr_storage addr;
  socklen_t addr_len = 0;
  if (!ParseAddress(to_address, &addr, &addr_len)) {
    return absl::InvalidArgumentError("bad udp address " + to_address);
  }
  const int family = addr.ss_family;
  if (family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(static_cast<uint16_t>(port));
  }
  int rx_raw = -1, tx_raw = -1;
  absl::Status status = RunIn(to, [&]() -> absl::Status {
    rx_raw = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (rx_raw < 0) return absl::InternalError(Errno("udp socket"));
    int rcvbuf = 8 << 20;
    setsockopt(rx_raw, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
    int on = 1;
    setsockopt(rx_raw, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(rx_raw, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
      return absl::InternalError(Errno("bind udp " + to_address));
    }
    return absl::OkStatus();
  });
  Fd rx(rx_raw);
  if (!status.ok()) return status;
  socklen_t bound_len = addr_len;
  getsockname(rx.get(), reinterpret_cast<sockaddr*>(&addr), &bound_len);
  status = RunIn(from, [&]() -> absl::Status {
    tx_raw = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (tx_raw < 0) return absl::InternalError(Errno("udp socket"));
    return absl::OkStatus();
  });
  Fd tx(tx_raw);
  if (!status.ok()) return status;

  UdpResult result;
  std::vector<bool> seen(count, false);
  auto drain = [&] {
    uint32_t seq;
    while (recv(rx.get(), &seq, sizeof(seq), MSG_DONTWAIT) == sizeof(seq)) {
      if (seq < static_cast<uint32_t>(count) && !seen[seq]) {
        seen[seq] = true;
        ++result.received;
      }
    }
  };
  RunRealtime([&] {
    auto next_send = Clock::now();
    for (int i = 0; i < count; ++i) {
      uint32_t seq = i;
      sendto(tx.get(), &seq, sizeof(seq), 0, reinterpret_cast<sockaddr*>(&addr), addr_len);
      ++result.sent;
      next_send += interval;
      while (Clock::now() < next_send) {
        PollFor(rx.get(), next_send);
        drain();
      }
    }
    auto deadline = Clock::now() + grace;
    while (result.received < count && Clock::now() < deadline) {
      PollFor(rx.get(), deadline);
      drain();
    }
  });
  result.loss_pct = 100.0 * (result.sent - result.received) / result.sent;
  return result;
}

absl::StatusOr<double> NetLab::TcpThroughputMbit(int from, int to, int seconds) const {
  TempDir dir;
  const std::string port = "5201";
  Child server = Spawn(to, {"/usr/bin/iperf3", "-s", "-B", Address(to), "-p", port},
                       dir.File("server.log"));
  auto deadline = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    std::string listening;
    Exec(to, {"/usr/bin/ss", "-Hltn", "sport = :" + port}, &listening);
    if (listening.find("LISTEN") != std::string::npos) break;
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError("iperf3 server did not listen: " +
                                         ReadFile(dir.File("server.log")));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string output;
  int rc = Exec(from,
                {"/usr/bin/iperf3", "-c", Address(to), "-p", port, "-t", std::to_string(seconds),
                 "-J"},
                &output, std::chrono::seconds(seconds + 30));
  if (rc != 0) return absl::InternalError(absl::StrCat("iperf3 client failed (", rc, "): ", output));
  auto json = nlohmann::json::parse(output, nullptr, false);
  if (json.is_discarded() || !json.contains("end")) {
    return absl::InternalError("iperf3 output is not JSON: " + output);
  }
  return json["end"]["sum_received"]["bits_per_second"].get<double>() / 1e6;
}

std::string NetLab::Snapshot(int host) const {
  std::string all;
  const std::vector<std::vector<std::string>> commands = {
      {"/usr/sbin/tc", "qdisc", "show"},
      {"/usr/sbin/tc", "filter", "show", "dev", kInterface},
      {"/usr/sbin/tc", "filter", "show", "dev", kInterface, "ingress"},
      {"/usr/sbin/nft", "list", "ruleset"},
      {"/usr/sbin/ip", "-o", "link"},
  };
  for (const auto& argv : commands) {
    std::string output;
    int rc = Exec(host, argv, &output);
    absl::StrAppend(&all, "$", absl::StrJoin(argv, " "), " (", rc, ")\n", output);
  }
  // htb's direct_packets_stat counts packets sent while it has no class (an
  // IPv6 router solicitation can pass between two snapshots): traffic, not
  // configuration.
  static const RE2 kCounter("direct_packets_stat \\d+");
  RE2::GlobalReplace(&all, kCounter, "direct_packets_stat N");
  return all;
}

}  // namespace faultline::testing
