// NetLab: the network test lab for privileged tests, as an RAII object.
//
// Create(hosts) runs `scripts/netlab up` under a unique name ("fl<pid>n<k>"):
// a switch namespace with a bridge and `hosts` host namespaces, host i with
// 198.18.0.(i+1)/24 and fd00:198:18::(i+1)/64 on eth0 (see scripts/netlab for
// the layout). The destructor SIGKILLs whatever still runs inside the lab's
// namespaces and deletes them (`scripts/netlab down`), so links, qdiscs and
// nft rulesets inside the lab vanish with it. Labs left by a test process
// that died without destructors are removed by the next Create().
//
// Measurements run in this process: Ping and UdpLoss open their sockets on a
// thread that joined the host's network namespace (setns is per thread), so
// they need no ping binary, and run their send/receive loops on a real-time
// (SCHED_FIFO) thread so a busy host adds little noise. An RTT ends when the
// reply is read, not at the kernel's receive timestamp, which is taken before
// ingress hooks and IFBs and would hide ingress faults. TcpThroughputMbit runs iperf3 (server and client) in the
// namespaces. All traffic stays inside the lab and is bounded in count/time.
//
// Not thread-safe: one test thread drives a lab.
#ifndef FAULTLINE_TESTS_NETLAB_H_
#define FAULTLINE_TESTS_NETLAB_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/test_util.h"

namespace faultline::testing {

struct PingResult {
  int sent = 0;
  int received = 0;  // distinct replies (duplicates counted once)
  double loss_pct = 100.0;
  double rtt_min_ms = 0, rtt_avg_ms = 0, rtt_max_ms = 0, rtt_mdev_ms = 0;
  std::vector<double> rtts_ms;  // one per received reply, in send order
};

struct UdpResult {
  int sent = 0;
  int received = 0;  // distinct datagrams
  double loss_pct = 100.0;
};

// A real faultline-agent running inside a lab host, on unix:<state_dir>/agent.sock.
struct LabAgent {
  std::unique_ptr<TempDir> own_dir;  // set when StartAgent created the state dir
  std::string state_dir;
  std::string log_file;
  std::string address;  // "unix:/.../agent.sock"; "" if the agent did not come up
  Child child;
};

class NetLab {
 public:
  // Creates a lab with `hosts` hosts (1..200). Internal on script failure.
  static absl::StatusOr<std::unique_ptr<NetLab>> Create(int hosts);
  ~NetLab();
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  const std::string& name() const { return name_; }
  int hosts() const { return hosts_; }
  // "NAME-hI": the namespace of host i (usable with `ip netns exec`).
  std::string Namespace(int host) const;
  // 198.18.0.(i+1) and fd00:198:18::(i+1).
  static std::string Address(int host);
  static std::string Address6(int host);
  // The interface every host has towards the bridge.
  static constexpr const char* kInterface = "eth0";

  // Runs argv inside host's namespace (ip netns exec) to completion; exit code
  // (or 128+signal, -1 on timeout) and combined output.
  int Exec(int host, const std::vector<std::string>& argv, std::string* output = nullptr,
           std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Starts argv inside host's namespace; the Child kills it on destruction.
  Child Spawn(int host, const std::vector<std::string>& argv,
              const std::string& log_file = "") const;
  // Runs fn on a thread that joined host's network namespace; returns its status.
  absl::Status RunIn(int host, const std::function<absl::Status()>& fn) const;

  // A real faultline-agent in host's namespace on a unix socket in
  // `state_dir` (a fresh temp dir when ""); waits until it serves (10 s).
  // Reusing a state dir after kill -9 exercises the agent's recovery.
  std::unique_ptr<LabAgent> StartAgent(int host, const std::string& state_dir = "",
                                       const std::vector<std::string>& extra_flags = {}) const;

  // ICMP echo from host `from` to `to_address` (v4 or v6): `count` requests,
  // one every `interval`, then waits `grace` for late replies.
  absl::StatusOr<PingResult> Ping(int from, const std::string& to_address, int count,
                                  std::chrono::microseconds interval,
                                  std::chrono::milliseconds grace =
                                      std::chrono::milliseconds(1000)) const;
  absl::StatusOr<PingResult> Ping(int from, int to, int count, std::chrono::microseconds interval,
                                  std::chrono::milliseconds grace =
                                      std::chrono::milliseconds(1000)) const {
    return Ping(from, Address(to), count, interval, grace);
  }

  // `count` numbered UDP datagrams from host `from` to `to_address`:`port`
  // (v4 or v6, a socket bound in the namespace of host `to`; port 0 = any
  // free one), one every `interval`.
  absl::StatusOr<UdpResult> UdpLoss(int from, int to, const std::string& to_address, int count,
                                    std::chrono::microseconds interval, int port = 0,
                                    std::chrono::milliseconds grace =
                                        std::chrono::milliseconds(500)) const;

  // TCP throughput from `from` to `to` with iperf3 over `seconds`, as the
  // receiver measured it, in Mbit/s.
  absl::StatusOr<double> TcpThroughputMbit(int from, int to, int seconds) const;

  // Text of `tc qdisc show`, `tc filter show dev eth0` (egress and ingress),
  // `nft list ruleset` and `ip -o link` inside host: equal before and after a
  // test that cleaned up.
  std::string Snapshot(int host) const;

 private:
  NetLab(std::string name, int hosts) : name_(std::move(name)), hosts_(hosts) {}
  std::string name_;
  int hosts_;
};

// The scripts/netlab path in the source tree.
std::string NetLabScript();

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_NETLAB_H_
