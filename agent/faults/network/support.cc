#include "agent/faults/network/support.h"

#include <nftables/libnftables.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/host/linux/netlink.h"
#include "agent/host/linux/read_file.h"

namespace faultline::agent {
namespace {

constexpr auto kProbeTimeout = std::chrono::seconds(10);
constexpr uint32_t kProbeHandle = 0xFA170000u;

enum Bit : uint8_t {
  kNetem = 1 << 0,
  kHtb = 1 << 1,
  kTbf = 1 << 2,
  kU32 = 1 << 3,
  kIfb = 1 << 4,
  kNftables = 1 << 5,
  kNfqueue = 1 << 6,
};

// "netem: kernel has no sch_netem (<status message>)".
std::string Reason(const char* feature, const char* module, const absl::Status& status) {
  if (status.code() == absl::StatusCode::kNotFound) {
    return absl::StrCat(feature, ": kernel has no ", module, " (", status.message(), ")");
  }
  return absl::StrCat(feature, ": probe failed (", status.message(), ")");
}

// One nftables command batch in the calling network namespace; "" on
// success, else the error text.
std::string RunNft(const std::string& commands) {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return "cannot create an nftables context";
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  const int rc = nft_run_cmd_from_buffer(ctx, commands.c_str());
  std::string error;
  if (rc != 0) {
    const char* text = nft_ctx_get_error_buffer(ctx);
    error = text != nullptr && *text != '\0'
                ? std::string(absl::StripTrailingAsciiWhitespace(text))
                : "nft command failed";
  }
  nft_ctx_free(ctx);
  return error;
}

// The rtnetlink probes, run in a fresh network namespace of a child process.
// Fills `missing` with one reason per absent feature.
uint8_t ProbeTc(std::vector<std::string>* missing) {
  uint8_t bits = 0;
  absl::StatusOr<Rtnetlink> opened = Rtnetlink::Open();
  if (!opened.ok()) {
    missing->push_back(absl::StrCat("rtnetlink: ", opened.status().message()));
    return 0;
  }
  Rtnetlink& rtnl = *opened;
  absl::StatusOr<LinkInfo> lo = rtnl.LinkByName("lo");
  if (!lo.ok()) {
    missing->push_back(absl::StrCat("rtnetlink: ", lo.status().message()));
    return 0;
  }
  const int ifindex = lo->ifindex;

  NetemParams netem;
  netem.latency_ns = 1'000'000;
  if (absl::Status s = rtnl.AddQdisc(ifindex, kTcRootParent, kProbeHandle, netem,
                                     QdiscMode::kCreate);
      s.ok()) {
    bits |= kNetem;
    (void)rtnl.DeleteQdisc(ifindex, kTcRootParent, kProbeHandle);
  } else {
    missing->push_back(Reason("netem", "sch_netem", s));
  }

  TbfParams tbf;
  tbf.rate_bytes_per_s = 125'000;
  tbf.burst_bytes = 1600;
  tbf.limit_bytes = 16'000;
  if (absl::Status s = rtnl.AddQdisc(ifindex, kTcRootParent, kProbeHandle, tbf,
                                     QdiscMode::kCreate);
      s.ok()) {
    bits |= kTbf;
    (void)rtnl.DeleteQdisc(ifindex, kTcRootParent, kProbeHandle);
  } else {
    missing->push_back(Reason("tbf", "sch_tbf", s));
  }

  if (absl::Status s = rtnl.AddQdisc(ifindex, kTcRootParent, kProbeHandle, HtbParams{},
                                     QdiscMode::kCreate);
      s.ok()) {
    HtbClassParams cls;
    cls.rate_bytes_per_s = 125'000;
    cls.burst_bytes = 1600;
    cls.quantum_bytes = 1600;
    s = rtnl.AddHtbClass(ifindex, kProbeHandle, kProbeHandle | 1, cls);
    if (s.ok()) {
      bits |= kHtb;
      U32Filter filter;
      filter.parent = kProbeHandle;
      filter.prio = 1;
      filter.protocol = kEthPIp;
      filter.keys.push_back(U32Key{0x7F000001u, 0xFFFFFFFFu, 16});
      filter.classid = kProbeHandle | 1;
      if (absl::Status f = rtnl.AddU32Filter(ifindex, filter); f.ok()) {
        bits |= kU32;
      } else {
        missing->push_back(Reason("u32", "cls_u32", f));
      }
    } else {
      missing->push_back(Reason("htb", "sch_htb", s));
    }
    (void)rtnl.DeleteQdisc(ifindex, kTcRootParent, kProbeHandle);
  } else {
    missing->push_back(Reason("htb", "sch_htb", s));
  }

  absl::StatusOr<int> ifb = rtnl.CreateIfb("flbprobe", "faultline probe", 32);
  if (!ifb.ok()) {
    missing->push_back(Reason("ifb", "ifb links", ifb.status()));
  } else if (absl::Status s = rtnl.AddQdisc(ifindex, kTcIngressParent, kTcIngressHandle,
                                            IngressParams{}, QdiscMode::kCreate);
             !s.ok()) {
    missing->push_back(Reason("ifb", "sch_ingress", s));
  } else {
    U32Filter redirect;
    redirect.parent = kTcIngressFilterParent;
    redirect.prio = 1;
    redirect.protocol = kEthPAll;
    redirect.redirect_ifindex = *ifb;
    if (absl::Status f = rtnl.AddU32Filter(ifindex, redirect); f.ok()) {
      bits |= kIfb;
    } else {
      missing->push_back(Reason("ifb", "act_mirred or cls_u32", f));
    }
  }

  return bits;
}

// The nftables probes, run after ProbeTc's answer is on its way: on a kernel
// without nfnetlink libnftables exits the process instead of returning.
uint8_t ProbeNft(std::vector<std::string>* missing) {
  uint8_t bits = 0;
  const std::string nft_error = RunNft(
      "add table inet faultline_probe\n"
      "add chain inet faultline_probe input { type filter hook input priority 0; }\n"
      "add rule inet faultline_probe input meta l4proto udp numgen random mod 100 < 1 drop\n"
      "delete table inet faultline_probe\n");
  if (nft_error.empty()) {
    bits |= kNftables;
  } else {
    missing->push_back(absl::StrCat("nftables: nf_tables with numgen failed (", nft_error, ")"));
  }

  // The NFQUEUE xt target (used through nft_compat) is registered for the
  // whole kernel; its presence in the target list is the signal.
  absl::StatusOr<std::string> targets = ReadFile("/proc/net/ip_tables_targets");
  const bool xt_nfqueue = targets.ok() && absl::StrContains(*targets, "NFQUEUE");
  if (xt_nfqueue && (bits & kNftables)) {
    bits |= kNfqueue;
  } else if (!xt_nfqueue) {
    missing->push_back("nfqueue: kernel has no NFQUEUE xtables target");
  } else {
    missing->push_back("nfqueue: needs nftables");
  }
  return bits;
}

// Writes one answer frame: [0x80 | bits][reasons joined by "; "]['\0'] (the
// high bit keeps the first byte from ever being the terminator).
void WriteFrame(int fd, uint8_t bits, const std::vector<std::string>& missing) {
  std::string out(1, static_cast<char>(0x80 | bits));
  out += absl::StrJoin(missing, "; ");
  out.push_back('\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
}

// Child side: probe and write one frame for the tc engines, then one for
// nftables/NFQUEUE, to `fd`.
[[noreturn]] void RunChild(int fd) {
  std::vector<std::string> missing;
  if (::unshare(CLONE_NEWNET) != 0) {
    missing.push_back(absl::StrCat("all: cannot create a network namespace to probe in (",
                                   std::strerror(errno), "; the agent needs root)"));
    WriteFrame(fd, 0, missing);
    ::_exit(0);
  }
  const uint8_t tc = ProbeTc(&missing);
  WriteFrame(fd, tc, missing);
  missing.clear();
  const uint8_t nft = ProbeNft(&missing);
  WriteFrame(fd, nft, missing);
  ::_exit(0);
}

}  // namespace

NetworkSupport DetectNetworkSupport() {
  NetworkSupport support;
  support.detected = true;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    support.missing = absl::StrCat("all: pipe: ", std::strerror(errno));
    return support;
  }
  const pid_t child = ::fork();
  if (child < 0) {
    support.missing = absl::StrCat("all: fork: ", std::strerror(errno));
    ::close(fds[0]);
    ::close(fds[1]);
    return support;
  }
  if (child == 0) {
    ::close(fds[0]);
    RunChild(fds[1]);
  }
  ::close(fds[1]);
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + kProbeTimeout;
  bool timed_out = false;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{fds[0], POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = ready == 0;
      break;
    }
    char buffer[4096];
    const ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(child, SIGKILL);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  // Frames as RunChild wrote them; a missing second frame means the child
  // died in the nftables probe.
  std::vector<std::string> frames = absl::StrSplit(reply, '\0');
  if (!frames.empty() && frames.back().empty()) frames.pop_back();
  if (frames.empty()) {
    support.missing = timed_out ? "all: the probe process timed out"
                                : "all: the probe process died without an answer";
    return support;
  }
  uint8_t bits = 0;
  std::vector<std::string> missing;
  for (const std::string& frame : frames) {
    if (frame.empty()) continue;
    bits |= static_cast<uint8_t>(frame[0]) & 0x7F;
    if (frame.size() > 1) missing.push_back(frame.substr(1));
  }
  if (frames.size() == 1 && !absl::StartsWith(frames[0].substr(1), "all:")) {
    missing.push_back(
        timed_out ? "nftables: the probe timed out; nfqueue: needs nftables"
                  : "nftables: libnftables ended the probe process (no nfnetlink in this "
                    "kernel?); nfqueue: needs nftables");
  }
  support.netem = bits & kNetem;
  support.htb = bits & kHtb;
  support.tbf = bits & kTbf;
  support.u32 = bits & kU32;
  support.ifb = bits & kIfb;
  support.nftables = bits & kNftables;
  support.nfqueue = bits & kNfqueue;
  support.missing = absl::StrJoin(missing, "; ");
  return support;
}

}  // namespace faultline::agent
