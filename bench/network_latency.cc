// Apply-to-effective and revert-to-clean latency of network faults on the
// host engines, through the real path: a faultline-agent runs inside lab host
// h0 (tests/netlab.h) and this driver calls its gRPC Apply / Revert over the
// agent's unix socket, as the controller does.
//
// A probe stream runs the whole time: UDP datagrams of 1000 bytes from h0 to
// h1, one every --interval-us (default 200 us), each with its sequence
// number; this process records every send time (CLOCK_MONOTONIC and
// CLOCK_REALTIME) and, on a socket in h1, every arrival (the kernel's
// software receive timestamp, SO_TIMESTAMPNS, taken when h1's veth receives
// the frame, so the receiver thread's scheduling does not count). A packet
// is "affected" when it never arrives or its one-way latency exceeds the
// engine's threshold (delay: half the delay; tbf/htb: 2 ms; loss and
// partition: lost only), "clean" otherwise.
//
//   apply-to-effective = send time of the first packet sent after the Apply
//                        call started that is affected, along with the 4
//                        packets after it, minus the Apply start
//   revert-to-clean    = the same for the first clean run of 5 packets
//                        after the Revert call started
//
// Resolution is one probe interval (the fault became effective between the
// previous packet's send and this one's). tbf/htb let the token bucket's
// burst (1600 bytes, one or two probe packets) through before they shape.
// Prints one table row per engine: p50/p99/max of both latencies and of the
// RPC round trips. Run as root; ~75 s with the defaults (100 iterations).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "faultline/v1/agent.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/netlab.h"
#include "tests/test_util.h"

namespace {

using faultline::testing::NetLab;
using std::chrono::milliseconds;

constexpr int kRun = 5;              // consecutive packets that confirm a state
constexpr size_t kPayload = 1000;    // bytes of UDP payload per probe
constexpr uint16_t kPort = 7109;

int64_t NowNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void SetRealtime() {
  sched_param param{};
  param.sched_priority = 1;
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// The probe stream: a sender thread in h0, a receiver thread in h1, one
// record per sequence number. Bounded by `capacity` packets.
class Probe {
 public:
  Probe(const NetLab& lab, int64_t interval_ns, size_t capacity)
      : lab_(lab),
        interval_ns_(interval_ns),
        tx_mono_(capacity, 0),
        tx_real_(capacity, 0),
        rx_real_(capacity) {}

  // Starts both threads; returns once the receiver is bound.
  bool Start() {
    receiver_ = std::thread([this] { (void)lab_.RunIn(1, [this] { return Receive(); }); });
    while (!bound_.load() && !failed_.load()) std::this_thread::sleep_for(milliseconds(1));
    if (failed_.load()) return false;
    sender_ = std::thread([this] { (void)lab_.RunIn(0, [this] { return Send(); }); });
    return true;
  }

  // Stops sending, waits `grace` for stragglers, stops receiving.
  void Stop(milliseconds grace) {
    stop_sending_ = true;
    if (sender_.joinable()) sender_.join();
    std::this_thread::sleep_for(grace);
    stop_receiving_ = true;
    if (receiver_.joinable()) receiver_.join();
  }

  size_t sent() const { return sent_.load(); }
  int64_t tx_mono(size_t seq) const { return tx_mono_[seq]; }
  // One-way latency in ns, or -1 if the packet never arrived.
  int64_t latency(size_t seq) const {
    int64_t rx = rx_real_[seq].load(std::memory_order_relaxed);
    return rx == 0 ? -1 : rx - tx_real_[seq];
  }
  // First seq whose send time is >= t (binary search; sends are ordered).
  size_t FirstSentAt(int64_t t) const {
    size_t lo = 0, hi = sent();
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (tx_mono_[mid] < t) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

 private:
  absl::Status Send() {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(kPort);
    inet_pton(AF_INET, NetLab::Address(1).c_str(), &to.sin_addr);
    SetRealtime();
    std::vector<char> packet(kPayload, 0);
    int64_t next = NowNs(CLOCK_MONOTONIC);
    size_t seq = 0;
    while (!stop_sending_.load(std::memory_order_relaxed) && seq < tx_mono_.size()) {
      timespec ts{static_cast<time_t>(next / 1'000'000'000), static_cast<long>(next % 1'000'000'000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      uint64_t s = seq;
      std::memcpy(packet.data(), &s, sizeof(s));
      tx_real_[seq] = NowNs(CLOCK_REALTIME);
      tx_mono_[seq] = NowNs(CLOCK_MONOTONIC);
      // A failed send (a full queue) is a lost packet: the record stays.
      sendto(fd, packet.data(), packet.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to),
             sizeof(to));
      sent_.store(++seq, std::memory_order_release);
      next += interval_ns_;
      // After a stall, do not burst to catch up: skip the missed slots.
      const int64_t now = NowNs(CLOCK_MONOTONIC);
      if (next < now - interval_ns_) next = now;
    }
    close(fd);
    return absl::OkStatus();
  }

  absl::Status Receive() {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rcvbuf = 16 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(kPort);
    inet_pton(AF_INET, NetLab::Address(1).c_str(), &at.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0) {
      failed_ = true;
      close(fd);
      return absl::InternalError("bind probe receiver");
    }
    SetRealtime();
    bound_ = true;
    std::vector<char> buffer(2048);
    char control[256];
    while (!stop_receiving_.load(std::memory_order_relaxed)) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      for (;;) {
        iovec iov{buffer.data(), buffer.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
        if (n < static_cast<ssize_t>(sizeof(uint64_t))) break;
        int64_t rx = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
            timespec ts;
            std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            rx = int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
          }
        }
        if (rx == 0) rx = NowNs(CLOCK_REALTIME);
        uint64_t seq;
        std::memcpy(&seq, buffer.data(), sizeof(seq));
        if (seq < rx_real_.size()) rx_real_[seq].store(rx, std::memory_order_relaxed);
      }
    }
    close(fd);
    return absl::OkStatus();
  }

  const NetLab& lab_;
  const int64_t interval_ns_;
  std::vector<int64_t> tx_mono_, tx_real_;
  std::vector<std::atomic<int64_t>> rx_real_;
  std::atomic<size_t> sent_{0};
  std::atomic<bool> bound_{false}, failed_{false}, stop_sending_{false}, stop_receiving_{false};
  std::thread sender_, receiver_;
};

struct Engine {
  std::string name;       // the engine the agent is expected to pick
  std::string fault;      // for the table
  faultline::v1::FaultSpec spec;
  int64_t threshold_ns;   // latency above which a packet counts as affected; 0 = loss only
};

struct Iteration {
  int64_t apply_start = 0, apply_end = 0, revert_start = 0, revert_end = 0, next_start = 0;
};

// First seq >= from (and < to) starting a run of kRun packets that all
// satisfy `want`; -1 if none.
template <typename Pred>
int64_t FirstRun(const Probe& probe, size_t from, size_t to, Pred want) {
  size_t run = 0;
  for (size_t seq = from; seq < to; ++seq) {
    run = want(seq) ? run + 1 : 0;
    if (run == kRun) return static_cast<int64_t>(seq - kRun + 1);
  }
  return -1;
}

std::string Ms(const std::vector<double>& v) {
  if (v.empty()) return "-";
  return absl::StrFormat("%.2f / %.2f / %.2f", Percentile(v, 50), Percentile(v, 99),
                         *std::max_element(v.begin(), v.end()));
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 100;
  int64_t interval_us = 200;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--iterations=", 0) == 0) {
      iterations = std::atoi(arg.c_str() + 13);
    } else if (arg.rfind("--interval-us=", 0) == 0) {
      interval_us = std::atoll(arg.c_str() + 14);
    } else {
      std::fprintf(stderr, "usage: %s [--iterations=100] [--interval-us=200]\n", argv[0]);
      return 2;
    }
  }
  if (iterations < 1 || iterations > 1000 || interval_us < 50 || interval_us > 10'000) {
    std::fprintf(stderr, "iterations must be 1..1000, interval 50..10000 us\n");
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "needs root (network namespaces)\n");
    return 2;
  }

  std::vector<Engine> engines;
  {
    Engine loss{"nftables", "loss 100% to h1", {}, 0};
    loss.spec.mutable_network_loss()->set_percent(100);
    loss.spec.mutable_network_loss()->mutable_target()->add_destinations(NetLab::Address(1));
    engines.push_back(loss);
    Engine partition{"nftables", "partition h0|h1", {}, 0};
    partition.spec.mutable_network_partition()->add_peers(NetLab::Address(1));
    engines.push_back(partition);
    Engine delay{"nfqueue", "delay 20 ms to h1", {}, 10'000'000};
    delay.spec.mutable_network_delay()->set_delay_us(20'000);
    delay.spec.mutable_network_delay()->mutable_target()->add_destinations(NetLab::Address(1));
    engines.push_back(delay);
    Engine tbf{"tbf", "bandwidth 1 mbit on eth0", {}, 2'000'000};
    tbf.spec.mutable_network_bandwidth()->set_rate_bps(1'000'000);
    tbf.spec.mutable_network_bandwidth()->mutable_target()->set_interface(NetLab::kInterface);
    engines.push_back(tbf);
    Engine htb{"htb", "bandwidth 1 mbit to h1", {}, 2'000'000};
    htb.spec.mutable_network_bandwidth()->set_rate_bps(1'000'000);
    htb.spec.mutable_network_bandwidth()->mutable_target()->add_destinations(NetLab::Address(1));
    engines.push_back(htb);
  }

  auto made = NetLab::Create(2);
  if (!made.ok()) {
    std::fprintf(stderr, "lab: %s\n", made.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<NetLab> lab = std::move(*made);
  const std::string before = lab->Snapshot(0);
  auto agent = lab->StartAgent(0);
  if (agent->address.empty()) {
    std::fprintf(stderr, "agent did not start:\n%s\n",
                 faultline::testing::ReadFile(agent->log_file).c_str());
    return 1;
  }
  auto stub = faultline::v1::AgentService::NewStub(
      grpc::CreateChannel(agent->address, grpc::InsecureChannelCredentials()));

  // Hold times: long enough for kRun delayed packets to be sent and (for
  // delay) to arrive before the next phase; a few warm-up iterations.
  constexpr int kWarmup = 3;
  const milliseconds hold(60);
  const double seconds_per_iteration = 0.15;
  const size_t capacity = static_cast<size_t>(
      (engines.size() * (iterations + kWarmup) * seconds_per_iteration * 3 + 10) * 1e6 /
      static_cast<double>(interval_us));
  Probe probe(*lab, interval_us * 1000, capacity);
  if (!probe.Start()) {
    std::fprintf(stderr, "probe receiver did not bind\n");
    return 1;
  }
  std::this_thread::sleep_for(milliseconds(100));

  int problems = 0;
  int fault_id = 0;
  std::vector<std::vector<Iteration>> runs(engines.size());
  std::vector<std::string> picked(engines.size());
  for (size_t e = 0; e < engines.size(); ++e) {
    for (int i = 0; i < iterations + kWarmup && problems == 0; ++i) {
      faultline::v1::ApplyRequest request;
      request.set_fault_id(absl::StrFormat("lat%d", ++fault_id));
      request.set_run_id("bench-net-latency");
      request.set_duration_ms(60'000);
      request.set_lease_ttl_ms(600'000);
      *request.mutable_spec() = engines[e].spec;
      Iteration it;
      faultline::v1::ApplyResponse applied;
      grpc::ClientContext apply_call;
      apply_call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      it.apply_start = NowNs(CLOCK_MONOTONIC);
      grpc::Status status = stub->Apply(&apply_call, request, &applied);
      it.apply_end = NowNs(CLOCK_MONOTONIC);
      if (!status.ok()) {
        std::fprintf(stderr, "apply %s: %s\n", engines[e].fault.c_str(),
                     status.error_message().c_str());
        ++problems;
        break;
      }
      picked[e] = applied.fault().engine();
      std::this_thread::sleep_for(hold);
      faultline::v1::RevertRequest revert;
      revert.set_fault_id(request.fault_id());
      faultline::v1::RevertResponse reverted;
      grpc::ClientContext revert_call;
      revert_call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      it.revert_start = NowNs(CLOCK_MONOTONIC);
      status = stub->Revert(&revert_call, revert, &reverted);
      it.revert_end = NowNs(CLOCK_MONOTONIC);
      if (!status.ok()) {
        std::fprintf(stderr, "revert %s: %s\n", engines[e].fault.c_str(),
                     status.error_message().c_str());
        ++problems;
        break;
      }
      std::this_thread::sleep_for(hold);
      if (i >= kWarmup) runs[e].push_back(it);
    }
    std::fprintf(stderr, "%s: %zu iterations (engine %s)\n", engines[e].fault.c_str(),
                 runs[e].size(), picked[e].c_str());
  }
  probe.Stop(milliseconds(300));
  const size_t sent = probe.sent();

  std::printf("network fault apply-to-effective / revert-to-clean latency through the agent's "
              "gRPC Apply/Revert (agent in lab host h0, unix socket); probe: %zu-byte UDP h0->h1 "
              "every %lld us (%zu sent), state confirmed by %d consecutive packets\n\n",
              kPayload, static_cast<long long>(interval_us), sent, kRun);
  std::printf("| engine | fault | n | Apply RPC ms p50/p99/max | apply-to-effective ms "
              "p50/p99/max | Revert RPC ms p50/p99/max | revert-to-clean ms p50/p99/max | "
              "missed | p50 < 10 ms |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (size_t e = 0; e < engines.size(); ++e) {
    const Engine& engine = engines[e];
    auto affected = [&](size_t seq) {
      int64_t latency = probe.latency(seq);
      return latency < 0 || (engine.threshold_ns > 0 && latency > engine.threshold_ns);
    };
    std::vector<double> apply_rpc, effective, revert_rpc, clean;
    int missed = 0;
    for (size_t i = 0; i < runs[e].size(); ++i) {
      const Iteration& it = runs[e][i];
      apply_rpc.push_back((it.apply_end - it.apply_start) / 1e6);
      revert_rpc.push_back((it.revert_end - it.revert_start) / 1e6);
      const size_t a = probe.FirstSentAt(it.apply_start);
      const size_t r = probe.FirstSentAt(it.revert_start);
      const size_t r_end = probe.FirstSentAt(it.revert_end + hold.count() * 1'000'000);
      int64_t hit = FirstRun(probe, a, r, affected);
      int64_t back = FirstRun(probe, r, std::min(r_end, sent),
                              [&](size_t seq) { return !affected(seq); });
      if (hit < 0 || back < 0) {
        ++missed;
        continue;
      }
      effective.push_back((probe.tx_mono(hit) - it.apply_start) / 1e6);
      clean.push_back((probe.tx_mono(back) - it.revert_start) / 1e6);
    }
    const bool met = !effective.empty() && Percentile(effective, 50) < 10.0 &&
                     Percentile(clean, 50) < 10.0;
    std::printf("| %s | %s | %zu | %s | %s | %s | %s | %d | %s |\n", picked[e].c_str(),
                engine.fault.c_str(), effective.size(), Ms(apply_rpc).c_str(),
                Ms(effective).c_str(), Ms(revert_rpc).c_str(), Ms(clean).c_str(), missed,
                met ? "yes" : "NO");
    if (picked[e] != engine.name) {
      std::fprintf(stderr, "note: %s ran on engine %s, expected %s\n", engine.fault.c_str(),
                   picked[e].c_str(), engine.name.c_str());
    }
  }

  agent->child.Signal(SIGTERM);
  agent->child.Wait(std::chrono::seconds(10));
  if (lab->Snapshot(0) != before) {
    std::fprintf(stderr, "PROBLEM: h0's tc/nft/link state differs after the run\n");
    ++problems;
  }
  return problems == 0 ? 0 : 1;
}
