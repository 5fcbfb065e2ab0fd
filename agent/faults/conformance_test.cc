// The shared conformance suite (STYLE.md, "Every fault has the same
// lifecycle"): every fault kind MakeFault builds runs through the same checks
// on the real host.
//
// Each kind supplies a Subject: the spec to apply, what on the host it acts on
// (victim processes for the process kinds), a host probe that captures the
// observable state relevant to the kind (our stressor processes and the
// */faultline/<id> cgroup dirs; the victims' state letters), a way to make
// Apply fail after a successful Prepare, and what "in effect" looks like.
// The suite then asserts, for every kind:
//
//   an invalid spec is InvalidArgument and changes nothing (directly and
//   through the manager); prepare twice changes nothing; apply -> revert
//   restores the probed host (irreversible kinds: the effect stays but
//   nothing more happens); revert twice is OK; revert without apply is OK
//   and changes nothing; the manager's handle reverts on destruction; a
//   failed apply (the target gone between Prepare and Apply: NotFound naming
//   it) leaves nothing, directly and through the manager; a revert after the
//   target vanished while the fault was active succeeds and leaves nothing of
//   the fault; a dry run changes nothing; Make + Restore(revert_state) +
//   Revert in a fresh object restores the host (also from the write-ahead
//   state, and after a real crash of a process running a FaultManager).
//   Network cases with a measurable effect also send traffic: the effect is
//   there while applied and gone after the revert.
//
// TearDown checks that nothing of ours is left: no stopped or surviving
// victims, no stressors, no cgroup dirs for the test's fault ids. Every test
// that uses a FaultManager ends with its active count back at zero.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "agent/faults/network/network_fault.h"
#include "agent/faults/network/support.h"
#include "agent/faults/stressor_testing.h"
#include "agent/host/clock.h"
#include "agent/host/process.h"
#include "agent/host/victim_testing.h"
#include "agent/manager/fault_manager.h"
#include "agent/manager/state_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace faultline::agent {
namespace {

using std::chrono::milliseconds;
using HostProbe = std::set<std::string>;

constexpr uint64_t kMiB = 1024 * 1024;
// process.kill repeats at the shortest interval, so "Revert stops further
// action" is observable within a few hundred milliseconds.
constexpr uint64_t kKillIntervalMs = 100;
// How long a process that must not be signalled is watched.
constexpr milliseconds kSurvival{4 * kKillIntervalMs};
// Revert's effects that the kernel applies asynchronously (SIGCONT, SIGKILL)
// get this long to show in /proc.
constexpr milliseconds kSettle{3000};

// What one fault kind brings to the suite. Created per test; not
// thread-safe.
class Subject {
 public:
  virtual ~Subject() = default;

  // Prepares what the fault acts on (victims). May ADD_FAILURE.
  virtual void SetUpHost() {}
  virtual v1::FaultSpec Spec() const = 0;
  // The observable host state relevant to this kind, for `fault_ids`.
  virtual HostProbe Probe(const std::vector<std::string>& fault_ids) const = 0;
  // Asserts the fault is in effect on the real host (waits for it to show).
  virtual void ExpectInEffect(const std::string& fault_id) = 0;
  // Makes Apply fail with NotFound after a successful Prepare, in two halves:
  // before the fault is built (its context) and between Prepare and Apply
  // (the host).
  virtual void BreakContext(FaultContext* context) {}
  virtual void BreakHost() {}
  // What BreakHost removed, as Apply's NotFound message must name it ("" when
  // the subject does not say).
  virtual std::string BrokenName() const { return ""; }
  // The lines of `probe` that show a fault of ours still in effect (a
  // stressor, a cgroup, a stopped victim, a qdisc, table or queue of ours):
  // after a revert there must be none, even when the target vanished first.
  virtual HostProbe Ours(const HostProbe& probe) const { return probe; }
  // Asserts that nothing acts on the host any more (a repeating fault whose
  // Revert must stop further action).
  virtual void ExpectInert() {}
  // The end-of-test check for what this subject started (e.g. no victim
  // left stopped), before any clean-up.
  virtual void ExpectNothingLeft() {}
  // Removes what this subject started (kills and reaps victims).
  virtual void CleanUp() {}
};

// Stressor kinds (cpu.pressure, memory.pressure): the effect is a
// faultline-stressor child in a per-fault cgroup.
class StressorSubject final : public Subject {
 public:
  explicit StressorSubject(v1::FaultSpec spec) : spec_(std::move(spec)) {}

  v1::FaultSpec Spec() const override { return spec_; }

  HostProbe Probe(const std::vector<std::string>& fault_ids) const override {
    HostProbe out;
    for (pid_t pid : testing::OurStressors()) {
      auto info = ReadProcess(pid);
      out.insert(absl::StrCat("stressor pid ", pid, " state ",
                              info.ok() ? std::string(1, info->state) : "?"));
    }
    for (const std::string& id : fault_ids) {
      for (const std::string& path : testing::LeftoverCgroups(id)) {
        out.insert(absl::StrCat("cgroup ", path));
      }
    }
    return out;
  }

  void ExpectInEffect(const std::string& fault_id) override {
    EXPECT_EQ(testing::OurStressors().size(), 1u) << "one stressor runs while applied";
    // A host without a usable hierarchy runs the stressor without a cgroup.
    auto layout = DetectCgroups();
    if (layout.ok() && !layout->hierarchies().empty()) {
      EXPECT_FALSE(testing::LeftoverCgroups(fault_id).empty()) << "no cgroup for " << fault_id;
    }
  }

  void BreakContext(FaultContext* context) override {
    context->stressor_path = "/nonexistent/faultline-stressor";
  }

 private:
  const v1::FaultSpec spec_;
};

std::string StateWord(char state) {
  switch (state) {
    case 'T':
    case 't': return "stopped";
    case 'Z':
    case 'X':
    case 'x':
    case '?': return "exited";
    default: return "running";  // R, S, D, I: not ours to tell apart
  }
}

// Process kinds (process.pause, process.kill): victims share a unique comm;
// the spec selects count=1, i.e. the oldest (the target), and any other is a
// bystander that must be left alone. process.kill gets no bystander: its
// repeat rounds would (rightly) kill it while the fault is active, racing
// the probes.
class VictimSubject final : public Subject {
 public:
  using SpecFn = std::function<v1::FaultSpec(const std::string& comm)>;
  VictimSubject(SpecFn spec, bool kills) : spec_(std::move(spec)), kills_(kills) {}

  void SetUpHost() override {
    const int victims = kills_ ? 1 : 2;
    for (int i = 0; i < victims; ++i) {
      std::unique_ptr<Victim> victim = Victim::Start(binary_.path());
      if (victim == nullptr) return;  // Start reported the failure
      victims_.push_back(std::move(victim));
    }
    // Selection is by (start_time, pid): find the one the fault will pick.
    auto oldest = std::min_element(victims_.begin(), victims_.end(), [](auto& a, auto& b) {
      return std::pair(a->start_time(), a->pid()) < std::pair(b->start_time(), b->pid());
    });
    target_ = static_cast<size_t>(oldest - victims_.begin());
  }

  v1::FaultSpec Spec() const override { return spec_(binary_.comm()); }

  HostProbe Probe(const std::vector<std::string>&) const override {
    HostProbe out;
    for (size_t i = 0; i < victims_.size(); ++i) {
      const Victim& v = *victims_[i];
      out.insert(absl::StrCat("victim ", i == target_ ? "target" : "bystander", " pid ", v.pid(),
                              ": ", v.reaped() ? "reaped" : StateWord(v.State())));
    }
    return out;
  }

  void ExpectInEffect(const std::string&) override {
    Victim& target = *victims_[target_];
    if (kills_) {
      std::optional<int> status = target.WaitExit(kSettle);
      ASSERT_TRUE(status.has_value()) << "target " << target.pid() << " survived process.kill";
      EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) << *status;
    } else {
      EXPECT_TRUE(target.WaitStopped()) << "target " << target.pid() << " not stopped";
      for (size_t i = 0; i < victims_.size(); ++i) {
        if (i == target_) continue;
        EXPECT_EQ(StateWord(victims_[i]->State()), "running") << "bystander touched";
      }
    }
  }

  HostProbe Ours(const HostProbe& probe) const override {
    HostProbe out;
    for (const std::string& line : probe) {
      if (absl::EndsWith(line, ": stopped")) out.insert(line);
    }
    return out;
  }

  // The selected process exits between Prepare and Apply: Apply finds
  // nothing left to act on.
  void BreakHost() override { victims_[target_]->KillAndReap(); }

  void ExpectInert() override {
    if (!kills_) return;
    // A newcomer matching the spec must not be killed once the fault is
    // reverted (or was never applied).
    std::unique_ptr<Victim> newcomer = Victim::Start(binary_.path());
    ASSERT_NE(newcomer, nullptr);
    std::optional<int> status = newcomer->WaitExit(kSurvival);
    EXPECT_FALSE(status.has_value()) << "a newcomer was killed after the fault ended";
    newcomers_.push_back(std::move(newcomer));
  }

  void ExpectNothingLeft() override {
    for (auto* list : {&victims_, &newcomers_}) {
      for (std::unique_ptr<Victim>& v : *list) {
        if (!v->reaped() && StateWord(v->State()) == "stopped") {
          ADD_FAILURE() << "victim " << v->pid() << " left stopped";
        }
      }
    }
  }

  void CleanUp() override {
    for (auto* list : {&victims_, &newcomers_}) {
      for (std::unique_ptr<Victim>& v : *list) v->KillAndReap();
    }
    for (const ProcessInfo& p : ProcessesNamed(binary_.comm())) {
      ADD_FAILURE() << "process with our victims' comm left: pid " << p.pid;
    }
  }

 private:
  const SpecFn spec_;
  const bool kills_;
  VictimBinary binary_;
  std::vector<std::unique_ptr<Victim>> victims_;
  std::vector<std::unique_ptr<Victim>> newcomers_;
  size_t target_ = 0;
};

// Network kinds: the fault goes on one end of a veth pair in a private
// network namespace that the test thread joins for the test (setns is per
// thread; forked children and commands inherit it), so nothing outside that
// namespace is touched. The probe is the namespace's `tc qdisc`, `tc filter`
// (egress and ingress of the faulted link), `nft list ruleset`, link list
// and bound NFQUEUE numbers (the delay engine's loop); deleting the link
// between Prepare and Apply makes Apply fail with NotFound, deleting it while
// the fault is active must not keep Revert from cleaning up. The engine is
// whatever this kernel offers: tc (netem, htb, tbf), or here, without netem,
// nftables for loss and partition and NFQUEUE for delay. Kinds no engine on
// this kernel can run are skipped: the netem VM (scripts/netem-vm) runs them.
const NetworkSupport& TestNetworkSupport() {
  static const NetworkSupport* support = new NetworkSupport(DetectNetworkSupport());
  return *support;
}

// What a network case's fault does to traffic from flc0 (198.18.99.1) to
// 198.18.99.2 (a static neighbour entry points it at flc1, which counts what
// arrives): checked by ExpectInEffect, and after a revert ExpectInert checks
// that every datagram passes again.
enum class Effect {
  kNone,   // not measured here (bandwidth, duplicate, corrupt): trace only
  kCut,    // nothing arrives
  kLoss,   // kLossPct of the datagrams are dropped, within +-6 sigma
  kDelay,  // arrives, but not before kDelayUs - kJitterUs
};
constexpr double kLossPct = 30;
constexpr int64_t kDelayUs = 20'000;
constexpr int64_t kJitterUs = 2'000;

class NetworkSubject final : public Subject {
 public:
  explicit NetworkSubject(std::function<v1::FaultSpec(const std::string& interface)> spec,
                          Effect effect = Effect::kNone)
      : spec_(std::move(spec)), effect_(effect) {}
  ~NetworkSubject() override { CleanUp(); }

  void SetUpHost() override {
    absl::StatusOr<std::string> engine = ChooseNetworkEngine(Spec(), TestNetworkSupport());
    if (!engine.ok()) GTEST_SKIP() << engine.status();
    static int counter = 0;
    netns_ = absl::StrCat("flconf", getpid(), "n", counter++);
    std::string output;
    ASSERT_EQ(faultline::testing::RunCommand({"/usr/sbin/ip", "netns", "add", netns_}, &output), 0)
        << output;
    home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    const int target = ::open(absl::StrCat("/run/netns/", netns_).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(home_, 0);
    ASSERT_GE(target, 0);
    ASSERT_EQ(::setns(target, CLONE_NEWNET), 0) << "setns " << netns_;
    ::close(target);
    // No IPv6 (router solicitations, MLD) in the namespace, so flc1 counts
    // exactly the datagrams a test sends. net.* sysctls follow the writing
    // thread's namespace.
    for (const char* conf : {"all", "default"}) {
      std::ofstream(absl::StrCat("/proc/sys/net/ipv6/conf/", conf, "/disable_ipv6")) << "1\n";
    }
    // One `ip` for the rest; it inherits this thread's namespace.
    const std::string batch = absl::StrCat(
        "link add ", kLink, " type veth peer name ", kPeer, " address ", kPeerMac, "\n",
        "addr add 198.18.99.1/24 dev ", kLink, "\n",
        "link set ", kLink, " up\n",
        "link set ", kPeer, " up\n",
        "neigh add ", kPeerAddress, " lladdr ", kPeerMac, " dev ", kLink, " nud permanent\n");
    char batch_path[] = "/tmp/fl-conformance-ip-XXXXXX";
    const int fd = mkstemp(batch_path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, batch.data(), batch.size()), static_cast<ssize_t>(batch.size()));
    ::close(fd);
    const int rc = faultline::testing::RunCommand({"/usr/sbin/ip", "-batch", batch_path}, &output);
    ::unlink(batch_path);
    ASSERT_EQ(rc, 0) << "ip -batch:\n" << batch << output;
    fresh_ = Probe({});
  }

  v1::FaultSpec Spec() const override { return spec_(kLink); }

  HostProbe Probe(const std::vector<std::string>&) const override {
    HostProbe out;
    // One shell runs the tools (each RunCommand costs a fork and at least a
    // 10 ms poll); "@name" lines start each tool's section.
    const std::string script = absl::StrCat(
        "echo @qdisc; /usr/sbin/tc qdisc show; ",
        "echo @filter; /usr/sbin/tc filter show dev ", kLink, "; ",
        "echo @filter-ingress; /usr/sbin/tc filter show dev ", kLink, " ingress; ",
        "echo @nft; /usr/sbin/nft list ruleset; ",
        "echo @link; /usr/sbin/ip -o link");
    std::string output;
    faultline::testing::RunCommand({"/bin/sh", "-c", script}, &output);
    std::string section;
    for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
      if (absl::ConsumePrefix(&line, "@")) {
        section = std::string(line);
      } else {
        out.insert(absl::StrCat(section, ": ", line));
      }
    }
    // Bound NFQUEUE numbers in this thread's namespace (thread-self, not
    // self: only the test thread joined it).
    std::ifstream queues("/proc/thread-self/net/netfilter/nfnetlink_queue");
    for (std::string line; std::getline(queues, line);) {
      std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (!fields.empty()) out.insert(absl::StrCat("nfqueue: queue ", fields[0], " bound"));
    }
    return out;
  }

  // Whatever the fresh namespace did not have: the links of a vanished
  // target are gone from the probe, so what is left is the fault's.
  HostProbe Ours(const HostProbe& probe) const override {
    HostProbe out;
    std::set_difference(probe.begin(), probe.end(), fresh_.begin(), fresh_.end(),
                        std::inserter(out, out.end()));
    // `tc filter show dev flc0` on a deleted link.
    std::erase_if(out, [](const std::string& line) {
      return absl::StrContains(line, "Cannot find device");
    });
    return out;
  }

  void ExpectInEffect(const std::string&) override {
    bool ours = false;
    for (const std::string& line : Probe({})) {
      ours |= absl::StrContains(line, "fa17:") || absl::StrContains(line, "faultline");
    }
    EXPECT_TRUE(ours) << "no faultline qdisc or nft table in " << netns_;
    switch (effect_) {
      case Effect::kNone: break;
      case Effect::kCut: EXPECT_EQ(SendAndCount(50), 0) << "datagrams crossed the partition"; break;
      case Effect::kLoss: {
        // 200 datagrams at 30%: 140 expected to pass, sigma 6.5.
        const int passed = SendAndCount(200);
        EXPECT_GE(passed, 100) << "far more than " << kLossPct << "% lost";
        EXPECT_LE(passed, 180) << "far less than " << kLossPct << "% lost";
        break;
      }
      case Effect::kDelay: {
        // The hold is delay +- jitter; a load spike only makes it longer.
        std::optional<milliseconds> took = SendAndTime();
        ASSERT_TRUE(took.has_value()) << "a delayed datagram never arrived";
        EXPECT_GE(took->count(), (kDelayUs - kJitterUs) / 1000 - 1) << "not delayed";
        break;
      }
    }
  }

  // Traffic passes untouched again (when the link is still there).
  void ExpectInert() override {
    if (effect_ == Effect::kNone || if_nametoindex(kLink) == 0) return;
    EXPECT_EQ(SendAndCount(50), 50) << "traffic still dropped after the fault ended";
  }

  void BreakHost() override {
    std::string output;
    EXPECT_EQ(faultline::testing::RunCommand({"/usr/sbin/ip", "link", "del", kLink}, &output), 0) << output;
  }
  std::string BrokenName() const override { return absl::StrCat("interface ", kLink); }

  // Packets flc1 has received (veth counts them in the sender's transmit
  // path, before any queueing on the receiving side).
  static uint64_t PeerRxPackets() {
    std::ifstream dev("/proc/thread-self/net/dev");
    for (std::string line; std::getline(dev, line);) {
      std::vector<std::string> fields = absl::StrSplit(line, absl::ByAnyChar(" :"), absl::SkipEmpty());
      uint64_t packets = 0;
      if (fields.size() > 2 && fields[0] == kPeer && absl::SimpleAtoi(fields[2], &packets)) {
        return packets;
      }
    }
    ADD_FAILURE() << "no " << kPeer << " in /proc/net/dev";
    return 0;
  }

  // A UDP socket of this thread's namespace aimed at the peer address.
  static int PeerSocket() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);  // discard; nothing listens, flc1 has no address
    ::inet_pton(AF_INET, kPeerAddress, &to.sin_addr);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
      ADD_FAILURE() << "udp socket to " << kPeerAddress << ": " << strerror(errno);
    }
    return fd;
  }

  // Sends `count` datagrams to the peer; how many reached flc1 within 20 ms
  // of the last one.
  static int SendAndCount(int count) {
    const uint64_t before = PeerRxPackets();
    const int fd = PeerSocket();
    if (fd < 0) return -1;
    for (int i = 0; i < count; ++i) (void)::send(fd, "x", 1, 0);
    ::close(fd);
    // Every engine here acts synchronously in send() (a drop or a pass to
    // flc1); the wait covers engines that queue (netem where present).
    std::this_thread::sleep_for(milliseconds(20));
    return static_cast<int>(PeerRxPackets() - before);
  }

  // Sends one datagram to the peer; how long it took to reach flc1 (nullopt
  // after 2 s).
  static std::optional<milliseconds> SendAndTime() {
    const uint64_t before = PeerRxPackets();
    const int fd = PeerSocket();
    if (fd < 0) return std::nullopt;
    const auto start = std::chrono::steady_clock::now();
    (void)::send(fd, "x", 1, 0);
    ::close(fd);
    const bool arrived =
        testing::WaitFor([&] { return PeerRxPackets() > before; }, milliseconds(2000));
    if (!arrived) return std::nullopt;
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  }

  void CleanUp() override {
    if (home_ >= 0) {
      EXPECT_EQ(::setns(home_, CLONE_NEWNET), 0);
      ::close(home_);
      home_ = -1;
    }
    if (!netns_.empty()) {
      std::string output;
      faultline::testing::RunCommand({"/usr/sbin/ip", "netns", "del", netns_}, &output);
      netns_.clear();
    }
  }

 private:
  static constexpr const char* kLink = "flc0";
  static constexpr const char* kPeer = "flc1";
  static constexpr const char* kPeerAddress = "198.18.99.2";
  static constexpr const char* kPeerMac = "02:00:c6:12:63:02";
  const std::function<v1::FaultSpec(const std::string&)> spec_;
  const Effect effect_;
  std::string netns_;
  int home_ = -1;
  HostProbe fresh_;  // the namespace as SetUpHost left it
};

struct KindCase {
  std::string name;  // for test names: "cpu_pressure"
  std::string kind;  // "cpu.pressure"
  bool reversible;
  std::function<std::unique_ptr<Subject>()> make;
};

void PrintTo(const KindCase& c, std::ostream* os) { *os << c.kind; }

std::vector<KindCase> Kinds() {
  std::vector<KindCase> out;
  out.push_back({"cpu_pressure", "cpu.pressure", true, [] {
                   v1::FaultSpec spec;
                   spec.mutable_cpu_pressure()->set_load_pct(20);
                   spec.mutable_cpu_pressure()->set_workers(1);
                   return std::make_unique<StressorSubject>(spec);
                 }});
  out.push_back({"memory_pressure", "memory.pressure", true, [] {
                   v1::FaultSpec spec;
                   spec.mutable_memory_pressure()->set_size_bytes(32 * kMiB);
                   return std::make_unique<StressorSubject>(spec);
                 }});
  out.push_back({"process_kill", "process.kill", false, [] {
                   return std::make_unique<VictimSubject>(
                       [](const std::string& comm) {
                         v1::FaultSpec spec;
                         v1::ProcessKill* kill = spec.mutable_process_kill();
                         kill->mutable_target()->set_name(comm);
                         kill->set_count(1);
                         kill->set_interval_ms(kKillIntervalMs);
                         return spec;
                       },
                       /*kills=*/true);
                 }});
  out.push_back({"process_pause", "process.pause", true, [] {
                   return std::make_unique<VictimSubject>(
                       [](const std::string& comm) {
                         v1::FaultSpec spec;
                         v1::ProcessPause* pause = spec.mutable_process_pause();
                         pause->mutable_target()->set_name(comm);
                         pause->set_count(1);
                         return spec;
                       },
                       /*kills=*/false);
                 }});
  // Without netem, delay runs on the NFQUEUE engine (an inet table and a
  // queue loop) and loss on nftables (a netdev table); with netem both run on
  // tc. partition is nftables everywhere: by interface in both directions
  // (egress and ingress chains), and by the route to its peer. Filters and
  // ingress variants of each engine are measured in tests/network_nft_test.cc
  // and tests/network_queue_test.cc; one case per engine path keeps this
  // suite short.
  out.push_back({"network_delay", "network.delay", true, [] {
                   return std::make_unique<NetworkSubject>([](const std::string& link) {
                     v1::FaultSpec spec;
                     v1::NetworkDelay* delay = spec.mutable_network_delay();
                     delay->set_delay_us(kDelayUs);
                     delay->set_jitter_us(kJitterUs);
                     delay->mutable_target()->set_interface(link);
                     delay->mutable_target()->add_destinations("198.18.99.2");
                     return spec;
                   }, Effect::kDelay);
                 }});
  out.push_back({"network_loss", "network.loss", true, [] {
                   return std::make_unique<NetworkSubject>([](const std::string& link) {
                     v1::FaultSpec spec;
                     spec.mutable_network_loss()->set_percent(kLossPct);
                     spec.mutable_network_loss()->mutable_target()->set_interface(link);
                     return spec;
                   }, Effect::kLoss);
                 }});
  out.push_back({"network_partition", "network.partition", true, [] {
                   return std::make_unique<NetworkSubject>([](const std::string& link) {
                     v1::FaultSpec spec;
                     v1::NetworkPartition* partition = spec.mutable_network_partition();
                     partition->add_peers("198.18.99.2");
                     partition->set_direction(v1::PARTITION_DIRECTION_BOTH);
                     partition->mutable_target()->set_interface(link);
                     return spec;
                   }, Effect::kCut);
                 }});
  out.push_back({"network_partition_by_route", "network.partition", true, [] {
                   return std::make_unique<NetworkSubject>([](const std::string&) {
                     v1::FaultSpec spec;
                     v1::NetworkPartition* partition = spec.mutable_network_partition();
                     partition->add_peers("198.18.99.0/28");
                     partition->set_direction(v1::PARTITION_DIRECTION_TO);
                     return spec;
                   }, Effect::kCut);
                 }});
  out.push_back({"network_bandwidth", "network.bandwidth", true, [] {
                   return std::make_unique<NetworkSubject>([](const std::string& link) {
                     v1::FaultSpec spec;
                     spec.mutable_network_bandwidth()->set_rate_bps(10'000'000);
                     spec.mutable_network_bandwidth()->mutable_target()->set_interface(link);
                     return spec;
                   });
                 }});
  out.push_back({"network_bandwidth_ingress_filtered", "network.bandwidth", true, [] {
                   return std::make_unique<NetworkSubject>([](const std::string& link) {
                     v1::FaultSpec spec;
                     v1::NetworkTarget* target =
                         spec.mutable_network_bandwidth()->mutable_target();
                     spec.mutable_network_bandwidth()->set_rate_bps(10'000'000);
                     target->set_interface(link);
                     target->set_direction(v1::NETWORK_DIRECTION_INGRESS);
                     target->add_sources("198.18.99.0/24");
                     target->add_ports(443);
                     return spec;
                   });
                 }});
  out.push_back({"network_duplicate", "network.duplicate", true, [] {
                   return std::make_unique<NetworkSubject>([](const std::string& link) {
                     v1::FaultSpec spec;
                     spec.mutable_network_duplicate()->set_percent(5);
                     spec.mutable_network_duplicate()->mutable_target()->set_interface(link);
                     return spec;
                   });
                 }});
  out.push_back({"network_corrupt", "network.corrupt", true, [] {
                   return std::make_unique<NetworkSubject>([](const std::string& link) {
                     v1::FaultSpec spec;
                     spec.mutable_network_corrupt()->set_percent(5);
                     spec.mutable_network_corrupt()->mutable_target()->set_interface(link);
                     spec.mutable_network_corrupt()->mutable_target()->add_destinations(
                         "198.18.99.2");
                     return spec;
                   });
                 }});
  return out;
}

// Makes a valid spec of any kind invalid in a way its validation must catch;
// false for a kind without an entry here (a new kind must add one).
bool Invalidate(v1::FaultSpec* spec) {
  switch (spec->kind_case()) {
    case v1::FaultSpec::kCpuPressure: spec->mutable_cpu_pressure()->set_load_pct(101); return true;
    case v1::FaultSpec::kMemoryPressure:  // size_bytes and percent both set
      spec->mutable_memory_pressure()->set_percent(50);
      return true;
    case v1::FaultSpec::kProcessKill:  // count and percent both set
      spec->mutable_process_kill()->set_percent(50);
      return true;
    case v1::FaultSpec::kProcessPause:
      spec->mutable_process_pause()->set_percent(50);
      return true;
    case v1::FaultSpec::kNetworkDelay:
      spec->mutable_network_delay()->set_jitter_us(spec->network_delay().delay_us() + 1);
      return true;
    case v1::FaultSpec::kNetworkLoss: spec->mutable_network_loss()->set_percent(101); return true;
    case v1::FaultSpec::kNetworkPartition:
      spec->mutable_network_partition()->add_peers("198.18.99.300");
      return true;
    case v1::FaultSpec::kNetworkBandwidth:
      spec->mutable_network_bandwidth()->mutable_target()->add_destinations("198.18.99.0/33");
      return true;
    case v1::FaultSpec::kNetworkDuplicate: spec->mutable_network_duplicate()->set_percent(101); return true;
    case v1::FaultSpec::kNetworkCorrupt: spec->mutable_network_corrupt()->set_percent(101); return true;
    default: return false;
  }
}

// Runs `hook` right before the wrapped fault's Apply: how a test makes the
// host change between the manager's Prepare and Apply.
class BeforeApplyFault final : public Fault {
 public:
  BeforeApplyFault(std::unique_ptr<Fault> inner, std::function<void()> hook)
      : inner_(std::move(inner)), hook_(std::move(hook)) {}
  absl::string_view kind() const override { return inner_->kind(); }
  std::string engine() const override { return inner_->engine(); }
  bool reversible() const override { return inner_->reversible(); }
  absl::Status Prepare() override { return inner_->Prepare(); }
  absl::Status Apply() override {
    hook_();
    return inner_->Apply();
  }
  absl::Status Revert() override { return inner_->Revert(); }
  Observation Observe() override { return inner_->Observe(); }
  v1::RevertState revert_state() const override { return inner_->revert_state(); }
  void Restore(const v1::RevertState& state) override { inner_->Restore(state); }
  std::string target() const override { return inner_->target(); }

 private:
  std::unique_ptr<Fault> inner_;
  std::function<void()> hook_;
};

class ConformanceTest : public ::testing::TestWithParam<KindCase> {
 protected:
  void SetUp() override {
    subject_ = GetParam().make();
    subject_->SetUpHost();
    ASSERT_FALSE(HasFailure()) << "could not set up the host for " << GetParam().kind;
    std::string templ = (std::filesystem::temp_directory_path() / "fl-conformance-XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    state_dir_ = templ;
  }

  void TearDown() override {
    // Nothing of ours may be left, without the safety net below.
    EXPECT_TRUE(testing::OurStressors().empty()) << "stressor processes left behind";
    for (const std::string& id : ids_) {
      EXPECT_TRUE(testing::LeftoverCgroups(id).empty())
          << "cgroups left behind: " << absl::StrJoin(testing::LeftoverCgroups(id), ", ");
    }
    subject_->ExpectNothingLeft();
    // Safety net for failed tests, so one failure does not leak into the
    // host: revert every fault this test built, then the subject's victims.
    for (std::unique_ptr<Fault>& fault : faults_) (void)fault->Revert();
    faults_.clear();
    subject_->CleanUp();
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    std::error_code ec;
    std::filesystem::remove_all(state_dir_, ec);
  }

  // A fault id unique to this test process, kind and test.
  std::string NewId(const std::string& what) {
    std::string id = testing::TestContext(absl::StrCat("conf-", GetParam().name, "-", what)).fault_id;
    ids_.push_back(id);
    return id;
  }

  FaultContext Context(const std::string& id) const {
    FaultContext context = testing::TestContext("unused");
    context.fault_id = id;
    context.network = TestNetworkSupport();
    return context;
  }

  HostProbe Probe() const { return subject_->Probe(ids_); }

  // Polls until the probe equals `expected` (the kernel applies SIGCONT and
  // exits asynchronously), then asserts it.
  void ExpectHostBecomes(const HostProbe& expected, const std::string& when) {
    testing::WaitFor([&] { return Probe() == expected; }, kSettle);
    EXPECT_EQ(Probe(), expected) << when;
  }

  // Builds a fault through MakeFault; the fixture keeps it so that TearDown
  // can revert it if the test fails half way.
  Fault* Make(const FaultContext& context) {
    absl::StatusOr<std::unique_ptr<Fault>> fault = MakeFault(subject_->Spec(), context);
    EXPECT_TRUE(fault.ok()) << fault.status();
    if (!fault.ok()) return nullptr;
    faults_.push_back(std::move(*fault));
    return faults_.back().get();
  }

  ManagerOptions Options() const {
    ManagerOptions options;
    options.state_dir = state_dir_;
    options.fault_context = testing::TestContext("unused");
    options.fault_context.network = TestNetworkSupport();
    return options;
  }

  // A manager on this test's state dir that has recovered nothing.
  std::unique_ptr<FaultManager> NewManager(ManagerOptions options, FaultFactory factory = MakeFault) {
    auto manager = std::make_unique<FaultManager>(std::move(options), &clock_, std::move(factory));
    absl::StatusOr<std::vector<v1::FaultStatus>> recovered = manager->Recover();
    EXPECT_TRUE(recovered.ok()) << recovered.status();
    if (recovered.ok()) {
      EXPECT_TRUE(recovered->empty()) << "state dir lists " << recovered->size() << " faults";
    }
    return manager;
  }

  v1::ApplyRequest Request(const std::string& id, bool dry_run = false) const {
    v1::ApplyRequest request;
    request.set_fault_id(id);
    request.set_run_id("conformance");
    *request.mutable_spec() = subject_->Spec();
    request.set_duration_ms(600'000);
    request.set_lease_ttl_ms(600'000);
    request.set_dry_run(dry_run);
    return request;
  }

  // Faults the state file still lists.
  int PersistedFaults() const {
    absl::StatusOr<v1::AgentState> state = StateFile(state_dir_).Read();
    EXPECT_TRUE(state.ok()) << state.status();
    return state.ok() ? state->faults_size() : -1;
  }

  bool reversible() const { return GetParam().reversible; }

  FakeClock clock_;
  std::unique_ptr<Subject> subject_;
  std::filesystem::path state_dir_;
  std::vector<std::string> ids_;
  std::vector<std::unique_ptr<Fault>> faults_;
};

TEST_P(ConformanceTest, KindAndReversibilityAsDeclared) {
  Fault* fault = Make(Context(NewId("meta")));
  ASSERT_NE(fault, nullptr);
  EXPECT_EQ(fault->kind(), GetParam().kind);
  EXPECT_EQ(KindName(subject_->Spec()), GetParam().kind);
  EXPECT_EQ(fault->reversible(), GetParam().reversible);
}

TEST_P(ConformanceTest, ApplyThenRevertRestoresTheHost) {
  const std::string id = NewId("apply-revert");
  const HostProbe before = Probe();
  Fault* fault = Make(Context(id));
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  EXPECT_EQ(Probe(), before) << "Prepare changed the host";
  ASSERT_TRUE(fault->Prepare().ok()) << "second prepare";
  EXPECT_EQ(Probe(), before) << "the second Prepare changed the host";
  ASSERT_TRUE(fault->Apply().ok());
  subject_->ExpectInEffect(id);
  EXPECT_NE(Probe(), before) << "Apply left no trace a probe can see";

  ASSERT_TRUE(fault->Revert().ok());
  if (reversible()) {
    ExpectHostBecomes(before, "after revert");
  }
  subject_->ExpectInert();
}

TEST_P(ConformanceTest, RevertTwiceIsOk) {
  const std::string id = NewId("revert-twice");
  Fault* fault = Make(Context(id));
  ASSERT_NE(fault, nullptr);
  const HostProbe before = Probe();
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  // Also lets an irreversible effect (a SIGKILL) finish showing in /proc, so
  // the comparison below sees only what the second revert does.
  subject_->ExpectInEffect(id);
  ASSERT_TRUE(fault->Revert().ok());
  if (reversible()) ExpectHostBecomes(before, "after the first revert");
  const HostProbe after_first = Probe();
  EXPECT_TRUE(fault->Revert().ok()) << "second revert";
  EXPECT_EQ(Probe(), after_first) << "the second revert changed the host";
  subject_->ExpectInert();
}

TEST_P(ConformanceTest, RevertWithoutApplyChangesNothing) {
  const std::string id = NewId("no-apply");
  const HostProbe before = Probe();
  Fault* fresh = Make(Context(id));
  ASSERT_NE(fresh, nullptr);
  EXPECT_TRUE(fresh->Revert().ok()) << "revert of a fault never prepared";
  EXPECT_EQ(Probe(), before);

  Fault* prepared = Make(Context(id));
  ASSERT_NE(prepared, nullptr);
  ASSERT_TRUE(prepared->Prepare().ok());
  EXPECT_TRUE(prepared->Revert().ok()) << "revert after prepare only";
  EXPECT_TRUE(prepared->Revert().ok());
  EXPECT_EQ(Probe(), before);
  subject_->ExpectInert();
  EXPECT_EQ(Probe(), before);
}

// fault.h: the manager's handle reverts on destruction, not the Fault. A
// manager going away with a fault active reverts it and leaves an empty
// state file behind.
TEST_P(ConformanceTest, DestroyingTheManagerReverts) {
  const std::string id = NewId("destroy");
  const HostProbe before = Probe();
  std::unique_ptr<FaultManager> manager = NewManager(Options());
  absl::StatusOr<v1::ApplyResponse> applied = manager->Apply(Request(id));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->fault().state(), v1::FAULT_STATE_ACTIVE);
  EXPECT_EQ(applied->fault().reversible(), reversible());
  EXPECT_EQ(manager->active_count(), 1u);
  subject_->ExpectInEffect(id);

  manager.reset();
  if (reversible()) ExpectHostBecomes(before, "after the manager was destroyed");
  subject_->ExpectInert();
  EXPECT_EQ(PersistedFaults(), 0);
  std::unique_ptr<FaultManager> next = NewManager(Options());
  EXPECT_EQ(next->active_count(), 0u);
}

TEST_P(ConformanceTest, FailedApplyLeavesNothing) {
  const std::string id = NewId("failed-apply");
  FaultContext context = Context(id);
  subject_->BreakContext(&context);
  Fault* fault = Make(context);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  subject_->BreakHost();
  const HostProbe before = Probe();
  absl::Status status = fault->Apply();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(status.message(), ::testing::HasSubstr(subject_->BrokenName()));
  EXPECT_EQ(Probe(), before) << "a failed Apply changed the host";
  subject_->ExpectInert();
  EXPECT_TRUE(fault->Revert().ok());
  EXPECT_EQ(Probe(), before);
}

TEST_P(ConformanceTest, FailedApplyThroughTheManagerLeavesNothing) {
  const std::string id = NewId("failed-apply-manager");
  ManagerOptions options = Options();
  subject_->BreakContext(&options.fault_context);
  HostProbe before;
  FaultFactory factory = [&](const v1::FaultSpec& spec,
                             const FaultContext& context) -> absl::StatusOr<std::unique_ptr<Fault>> {
    absl::StatusOr<std::unique_ptr<Fault>> made = MakeFault(spec, context);
    if (!made.ok()) return made.status();
    return std::make_unique<BeforeApplyFault>(std::move(*made), [&] {
      subject_->BreakHost();
      before = Probe();
    });
  };
  std::unique_ptr<FaultManager> manager = NewManager(options, factory);
  absl::StatusOr<v1::ApplyResponse> applied = manager->Apply(Request(id));
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kNotFound) << applied.status();
  EXPECT_THAT(applied.status().message(), ::testing::HasSubstr(subject_->BrokenName()));
  EXPECT_EQ(Probe(), before) << "a failed Apply changed the host";
  EXPECT_EQ(manager->active_count(), 0u);
  EXPECT_EQ(manager->List("").faults_size(), 0);
  EXPECT_EQ(PersistedFaults(), 0) << "the write-ahead record outlived the failed apply";
  subject_->ExpectInert();
  manager.reset();
  EXPECT_EQ(Probe(), before);
}

// The target vanishes while the fault is active (the interface is deleted,
// the paused process exits): Revert converges anyway, twice, and nothing of
// the fault is left on the host.
TEST_P(ConformanceTest, RevertAfterTheTargetVanishedLeavesNothing) {
  const std::string id = NewId("vanished");
  Fault* fault = Make(Context(id));
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  subject_->ExpectInEffect(id);
  subject_->BreakHost();

  absl::Status reverted = fault->Revert();
  EXPECT_TRUE(reverted.ok()) << reverted;
  testing::WaitFor([&] { return subject_->Ours(Probe()).empty(); }, kSettle);
  EXPECT_THAT(subject_->Ours(Probe()), ::testing::IsEmpty()) << "left after revert";
  const HostProbe after_first = Probe();
  reverted = fault->Revert();
  EXPECT_TRUE(reverted.ok()) << "second revert: " << reverted;
  EXPECT_EQ(Probe(), after_first) << "the second revert changed the host";
  subject_->ExpectInert();
}

// Bad input gets a clear error, never a partial fault (DESIGN.md): an
// invalid spec is InvalidArgument from MakeFault and from the manager, which
// keeps and persists nothing, and the host does not change.
TEST_P(ConformanceTest, InvalidSpecChangesNothing) {
  const std::string id = NewId("invalid");
  const HostProbe before = Probe();
  v1::FaultSpec spec = subject_->Spec();
  ASSERT_TRUE(Invalidate(&spec)) << "no invalid variant of " << GetParam().kind;
  absl::StatusOr<std::unique_ptr<Fault>> made = MakeFault(spec, Context(id));
  EXPECT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument) << made.status();

  std::unique_ptr<FaultManager> manager = NewManager(Options());
  v1::ApplyRequest request = Request(id);
  *request.mutable_spec() = spec;
  absl::StatusOr<v1::ApplyResponse> applied = manager->Apply(request);
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kInvalidArgument) << applied.status();
  EXPECT_EQ(manager->active_count(), 0u);
  EXPECT_EQ(manager->List("").faults_size(), 0);
  EXPECT_EQ(PersistedFaults(), 0);
  EXPECT_EQ(Probe(), before) << "an invalid spec changed the host";
  subject_->ExpectInert();
}

TEST_P(ConformanceTest, DryRunChangesNothing) {
  const std::string id = NewId("dry-run");
  const HostProbe before = Probe();
  std::unique_ptr<FaultManager> manager = NewManager(Options());
  absl::StatusOr<v1::ApplyResponse> applied = manager->Apply(Request(id, /*dry_run=*/true));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->fault().state(), v1::FAULT_STATE_DRY_RUN);
  EXPECT_EQ(applied->fault().kind(), GetParam().kind);
  EXPECT_EQ(Probe(), before) << "a dry run changed the host";
  subject_->ExpectInert();
  EXPECT_EQ(Probe(), before);
  EXPECT_EQ(manager->active_count(), 0u);
  EXPECT_EQ(PersistedFaults(), 0);
}

TEST_P(ConformanceTest, ApplyAndRevertThroughTheManagerReturnsToZero) {
  const std::string id = NewId("manager");
  const HostProbe before = Probe();
  std::unique_ptr<FaultManager> manager = NewManager(Options());
  absl::StatusOr<v1::ApplyResponse> applied = manager->Apply(Request(id));
  ASSERT_TRUE(applied.ok()) << applied.status();
  subject_->ExpectInEffect(id);
  EXPECT_EQ(manager->active_count(), 1u);
  EXPECT_EQ(PersistedFaults(), 1);

  absl::StatusOr<v1::RevertResponse> reverted = manager->Revert(id);
  ASSERT_TRUE(reverted.ok()) << reverted.status();
  EXPECT_TRUE(reverted->was_active());
  if (reversible()) ExpectHostBecomes(before, "after the manager reverted");
  subject_->ExpectInert();
  EXPECT_EQ(manager->active_count(), 0u);
  EXPECT_EQ(PersistedFaults(), 0);
}

// Crash recovery as fault.h describes it: a fresh object built from the spec
// and the persisted revert_state reverts what the first one applied.
TEST_P(ConformanceTest, RestoreAndRevertInAFreshObjectRestoresTheHost) {
  const std::string id = NewId("recovery");
  const HostProbe before = Probe();
  Fault* first = Make(Context(id));
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Prepare().ok());
  ASSERT_TRUE(first->Apply().ok());
  subject_->ExpectInEffect(id);
  const v1::RevertState state = first->revert_state();

  Fault* second = Make(Context(id));
  ASSERT_NE(second, nullptr);
  second->Restore(state);
  ASSERT_TRUE(second->Revert().ok());
  if (reversible()) ExpectHostBecomes(before, "after recovery");
  EXPECT_TRUE(second->Revert().ok()) << "recovery revert twice";
  // In a real crash the first object is gone with its process (and so is
  // process.kill's repeat thread); here its late revert must be harmless.
  const HostProbe recovered = Probe();
  EXPECT_TRUE(first->Revert().ok());
  if (reversible()) {
    EXPECT_EQ(Probe(), recovered);
  }
  subject_->ExpectInert();
}

// A crash between the write-ahead persist and Apply: recovery from the state
// Prepare reported must not change the host.
TEST_P(ConformanceTest, RecoveryFromWriteAheadStateChangesNothing) {
  const std::string id = NewId("write-ahead");
  const HostProbe before = Probe();
  Fault* first = Make(Context(id));
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Prepare().ok());
  const v1::RevertState state = first->revert_state();

  Fault* second = Make(Context(id));
  ASSERT_NE(second, nullptr);
  second->Restore(state);
  EXPECT_TRUE(second->Revert().ok());
  EXPECT_EQ(Probe(), before);
  subject_->ExpectInert();
  EXPECT_EQ(Probe(), before);
}

// The real thing: a child process runs a FaultManager, applies, and dies
// without reverting (no destructors). A new manager on the same state dir
// reverts the fault in Recover().
TEST_P(ConformanceTest, ManagerRecoversAfterACrash) {
  const std::string id = NewId("crash");
  const HostProbe before = Probe();
  // A stressor orphaned by the crash is re-parented to us, so recovery can
  // reap it.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const v1::ApplyRequest request = Request(id);
  const ManagerOptions options = Options();
  pid_t agent = fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    close(fds[0]);
    char ok = 0;
    // Leaked on purpose: the crash runs no destructor.
    auto* clock = new FakeClock();
    auto* manager = new FaultManager(options, clock);
    if (manager->Recover().ok() && manager->Apply(request).ok()) ok = 1;
    if (write(fds[1], &ok, 1) != 1) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  char ok = 0;
  EXPECT_EQ(read(fds[0], &ok, 1), 1);
  close(fds[0]);
  int wait_status = 0;
  ASSERT_EQ(waitpid(agent, &wait_status, 0), agent);
  ASSERT_EQ(ok, 1) << "the crashing agent could not apply";
  EXPECT_EQ(PersistedFaults(), 1) << "the applied fault is persisted";
  if (reversible()) {
    EXPECT_NE(Probe(), before) << "the crash reverted the fault by itself";
  }

  auto manager = std::make_unique<FaultManager>(Options(), &clock_);
  absl::StatusOr<std::vector<v1::FaultStatus>> recovered = manager->Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ((*recovered)[0].fault_id(), id);
  EXPECT_EQ((*recovered)[0].state(), v1::FAULT_STATE_REVERTED);
  if (reversible()) ExpectHostBecomes(before, "after recovery");
  subject_->ExpectInert();
  EXPECT_EQ(manager->active_count(), 0u);
  EXPECT_EQ(PersistedFaults(), 0);
}

INSTANTIATE_TEST_SUITE_P(EveryKind, ConformanceTest, ::testing::ValuesIn(Kinds()),
                         [](const ::testing::TestParamInfo<KindCase>& info) {
                           return info.param.name;
                         });

// The suite must cover every kind this build knows, with no exemptions: a
// new kind without a case here fails.
TEST(ConformanceCoverageTest, EveryKnownKindHasACase) {
  std::set<std::string> covered;  // a kind may have several cases
  for (const KindCase& c : Kinds()) covered.insert(c.kind);
  const std::vector<std::string> known = KnownKinds();
  EXPECT_THAT(covered, ::testing::ElementsAreArray(std::set<std::string>(known.begin(), known.end())));
}

}  // namespace
}  // namespace faultline::agent
