// Rtnetlink: the host layer's one door to rtnetlink (links, routes and
// traffic control) for the network fault engines, built on libnl's socket and
// message API. Callers speak in plain structs (ifindex, handles, kernel-scale
// parameters); only netlink.cc includes <netlink/...> and the kernel's tc
// structures, and it is the one place where a netlink error (errno plus the
// kernel's extended-ack text) becomes an absl::Status.
//
// Every call works in the network namespace of the thread that called Open()
// (a netlink socket belongs to the namespace it was created in), so tests can
// drive a namespace from a thread that joined it with setns().
//
// Errors: the kernel's errno through ErrnoToStatus (ENOENT -> NotFound,
// EEXIST -> AlreadyExists, EPERM -> PermissionDenied, EINVAL ->
// InvalidArgument, ...), message "<operation>: <strerror> (<kernel text>)",
// e.g. "add netem qdisc fa17: on ifindex 3: No such file or directory
// (Specified qdisc kind is unknown)". Library failures are Internal.
//
// An Rtnetlink is move-only and not thread-safe; open one per thread/call.
#ifndef FAULTLINE_AGENT_HOST_LINUX_NETLINK_H_
#define FAULTLINE_AGENT_HOST_LINUX_NETLINK_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct nl_sock;

namespace faultline::agent {

// Traffic-control handles as the kernel packs them (major << 16 | minor).
constexpr uint32_t TcHandle(uint32_t major, uint32_t minor) {
  return (major << 16) | (minor & 0xFFFFu);
}
constexpr uint32_t TcMajor(uint32_t handle) { return handle >> 16; }
constexpr uint32_t kTcRootParent = 0xFFFFFFFFu;     // TC_H_ROOT
constexpr uint32_t kTcIngressParent = 0xFFFFFFF1u;  // TC_H_INGRESS (= TC_H_CLSACT)
constexpr uint32_t kTcIngressHandle = 0xFFFF0000u;  // handle of an ingress/clsact qdisc
// Parent for filters on the ingress hook of an ingress or clsact qdisc.
constexpr uint32_t kTcIngressFilterParent = 0xFFFFFFF2u;
constexpr uint16_t kEthPAll = 0x0003;
constexpr uint16_t kEthPIp = 0x0800;
constexpr uint16_t kEthPIpv6 = 0x86DD;

// "fa17:" / "fa17:1" / "root" / "ingress", as tc prints handles.
std::string FormatTcHandle(uint32_t handle);

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  std::string kind;   // IFLA_INFO_KIND ("veth", "ifb"), "" for plain devices
  std::string alias;  // IFLA_IFALIAS
  uint32_t txqlen = 0;
  bool up = false;
};

struct TcStats {
  uint64_t bytes = 0;
  uint64_t packets = 0;
  uint32_t drops = 0;
  uint32_t overlimits = 0;
  uint32_t requeues = 0;
  uint32_t qlen = 0;
  uint32_t backlog_bytes = 0;
};

struct QdiscInfo {
  int ifindex = 0;
  uint32_t handle = 0;
  uint32_t parent = 0;
  std::string kind;
  TcStats stats;
  bool has_size_table = false;  // TCA_STAB: cannot be re-created from a dump
  uint32_t htb_direct_packets = 0;  // htb: packets sent unclassified (direct)
  // The RTM_NEWQDISC message exactly as dumped (RecreateQdisc input).
  std::string message;
};

struct ClassInfo {
  uint32_t handle = 0;
  uint32_t parent = 0;
  std::string kind;
  TcStats stats;
};

struct FilterInfo {
  uint32_t parent = 0;
  uint16_t prio = 0;
  uint16_t protocol = 0;  // host byte order, e.g. kEthPIp
  uint32_t handle = 0;
  std::string kind;
};

// Probabilities are on the kernel's scale: 0 = never, UINT32_MAX = always.
struct NetemParams {
  uint64_t latency_ns = 0;
  uint64_t jitter_ns = 0;
  uint32_t limit_packets = 1000;
  uint32_t loss = 0;
  uint32_t gap = 0;
  uint32_t duplicate = 0;
  uint32_t delay_correlation = 0;
  uint32_t loss_correlation = 0;
  uint32_t duplicate_correlation = 0;
  uint32_t reorder = 0;
  uint32_t reorder_correlation = 0;
  uint32_t corrupt = 0;
  uint32_t corrupt_correlation = 0;
  // Gilbert-Elliott loss (replaces `loss` when set): p good->bad, r bad->good,
  // h = 1 - loss in the bad state, k1 = loss in the good state.
  bool gilbert_elliott = false;
  uint32_t ge_p = 0, ge_r = 0, ge_h = 0, ge_k1 = 0;
  // Delay distribution table (netem's NETEM_DIST_SCALE units); empty = uniform.
  std::vector<int16_t> distribution;
};

struct TbfParams {
  uint64_t rate_bytes_per_s = 0;
  uint32_t burst_bytes = 0;
  uint32_t limit_bytes = 0;
};

struct HtbParams {
  uint32_t default_minor = 0;  // 0 = unclassified packets take the direct queue
  uint32_t direct_qlen = 1000;
};

struct BfifoParams {
  uint32_t limit_bytes = 0;
};

struct IngressParams {};

using QdiscParams = std::variant<NetemParams, TbfParams, HtbParams, BfifoParams, IngressParams>;

struct HtbClassParams {
  uint64_t rate_bytes_per_s = 0;  // ceil = rate
  uint32_t burst_bytes = 0;
  uint32_t quantum_bytes = 0;
};

// One u32 key: the 32-bit word at `offset` bytes from the network header,
// masked with `mask`, must equal `value` (both in host byte order).
struct U32Key {
  uint32_t value = 0;
  uint32_t mask = 0;
  int offset = 0;
};

struct U32Filter {
  uint32_t parent = 0;
  uint16_t prio = 0;
  uint16_t protocol = kEthPAll;
  std::vector<U32Key> keys;   // empty = match every packet
  uint32_t classid = 0;       // classify into this class (0 = none)
  int redirect_ifindex = 0;   // mirred egress redirect to this link (0 = none)
};

enum class QdiscMode {
  kCreate,   // fails with AlreadyExists if a qdisc is there
  kReplace,  // creates or replaces whatever is attached at the parent
};

class Rtnetlink {
 public:
  // A NETLINK_ROUTE socket in the calling thread's network namespace.
  static absl::StatusOr<Rtnetlink> Open();
  ~Rtnetlink();
  Rtnetlink(Rtnetlink&& other) noexcept;
  Rtnetlink& operator=(Rtnetlink&& other) noexcept;
  Rtnetlink(const Rtnetlink&) = delete;
  Rtnetlink& operator=(const Rtnetlink&) = delete;

  // NotFound when no link has that name / index.
  absl::StatusOr<LinkInfo> LinkByName(const std::string& name);
  absl::StatusOr<LinkInfo> LinkByIndex(int ifindex);

  // The output interface of the route to `address` (4 or 16 bytes, network
  // order). NotFound when there is no route.
  absl::StatusOr<int> RouteInterface(int family, const std::array<uint8_t, 16>& address);

  // Creates an IFB link (AlreadyExists if the name is taken), sets its
  // alias and txqlen and brings it up. Returns its ifindex. If a later step
  // fails the link is deleted again.
  absl::StatusOr<int> CreateIfb(const std::string& name, const std::string& alias,
                                uint32_t txqlen);
  // NotFound if the link is gone.
  absl::Status DeleteLink(int ifindex);

  // Qdiscs / classes of one link; filters attached at `parent` of one link.
  absl::StatusOr<std::vector<QdiscInfo>> Qdiscs(int ifindex);
  absl::StatusOr<std::vector<ClassInfo>> Classes(int ifindex);
  absl::StatusOr<std::vector<FilterInfo>> Filters(int ifindex, uint32_t parent);

  absl::Status AddQdisc(int ifindex, uint32_t parent, uint32_t handle, const QdiscParams& params,
                        QdiscMode mode);
  // Re-creates a qdisc from a QdiscInfo::message (kind, options) on
  // `ifindex` at its original parent and handle. InvalidArgument when the
  // bytes are not a qdisc message.
  absl::Status RecreateQdisc(int ifindex, const std::string& message, QdiscMode mode);
  // NotFound when no such qdisc is attached.
  absl::Status DeleteQdisc(int ifindex, uint32_t parent, uint32_t handle);

  absl::Status AddHtbClass(int ifindex, uint32_t parent, uint32_t classid,
                           const HtbClassParams& params);
  absl::Status AddU32Filter(int ifindex, const U32Filter& filter);
  // Deletes every filter at (parent, prio, protocol). NotFound if none.
  absl::Status DeleteFilters(int ifindex, uint32_t parent, uint16_t prio, uint16_t protocol);

 private:
  explicit Rtnetlink(nl_sock* socket) : socket_(socket) {}
  nl_sock* socket_ = nullptr;
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_HOST_LINUX_NETLINK_H_
