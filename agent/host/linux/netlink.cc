#include "agent/host/linux/netlink.h"

#include <arpa/inet.h>
#include <linux/gen_stats.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/attr.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace faultline::agent {
namespace {

// Large enough for a netem message with a full NETEM_DIST_MAX table.
constexpr size_t kMaxMessageBytes = 64 * 1024;
// PSCHED ticks are 64 ns (PSCHED_SHIFT 6) on every kernel since 2.6.
constexpr int kPschedShift = 6;

struct MsgDeleter {
  void operator()(nl_msg* msg) const { nlmsg_free(msg); }
};
using MsgPtr = std::unique_ptr<nl_msg, MsgDeleter>;

struct CbDeleter {
  void operator()(nl_cb* cb) const { nl_cb_put(cb); }
};

std::string AttrString(const nlattr* attr) {
  if (attr == nullptr) return "";
  const char* data = static_cast<const char*>(nla_data(attr));
  return std::string(data, strnlen(data, static_cast<size_t>(nla_len(attr))));
}

uint32_t AttrU32(const nlattr* attr) {
  if (attr == nullptr || nla_len(attr) < static_cast<int>(sizeof(uint32_t))) return 0;
  uint32_t value;
  std::memcpy(&value, nla_data(attr), sizeof(value));
  return value;
}

uint32_t Saturate32(uint64_t value) {
  return static_cast<uint32_t>(std::min<uint64_t>(value, std::numeric_limits<uint32_t>::max()));
}

// Time to send `bytes` at `rate` as PSCHED ticks (for HTB/TBF buffers).
uint32_t BytesToTicks(uint64_t bytes, uint64_t rate_bytes_per_s) {
  if (rate_bytes_per_s == 0) return 0;
  const long double ns = static_cast<long double>(bytes) * 1e9L / rate_bytes_per_s;
  return Saturate32(static_cast<uint64_t>(ns) >> kPschedShift);
}

tc_ratespec RateSpec(uint64_t rate_bytes_per_s) {
  tc_ratespec spec{};
  spec.linklayer = TC_LINKLAYER_ETHERNET;  // no rate table needed
  spec.rate = Saturate32(rate_bytes_per_s);
  return spec;
}

// A request under construction. Remembers the first failure (message too
// big) so building code can stay linear; ok() is checked before sending.
class Request {
 public:
  Request(int type, int flags, const void* header, size_t header_len)
      : msg_(nlmsg_alloc_size(kMaxMessageBytes)) {
    nlmsghdr* hdr = msg_ ? nlmsg_put(msg_.get(), NL_AUTO_PORT, NL_AUTO_SEQ, type,
                                     static_cast<int>(header_len), flags | NLM_F_REQUEST)
                         : nullptr;
    if (hdr == nullptr) {
      ok_ = false;
      return;
    }
    std::memcpy(nlmsg_data(hdr), header, header_len);
  }

  bool ok() const { return ok_; }
  nl_msg* get() { return msg_.get(); }

  void Put(int type, const void* data, size_t len) {
    if (ok_ && nla_put(msg_.get(), type, static_cast<int>(len), data) < 0) ok_ = false;
  }
  void PutU32(int type, uint32_t value) { Put(type, &value, sizeof(value)); }
  void PutU64(int type, uint64_t value) { Put(type, &value, sizeof(value)); }
  void PutString(int type, const std::string& value) {
    Put(type, value.c_str(), value.size() + 1);
  }
  // Raw bytes inside the attribute opened last (netem's leading qopt).
  void Append(const void* data, size_t len) {
    if (ok_ && nlmsg_append(msg_.get(), const_cast<void*>(data), len, NLMSG_ALIGNTO) < 0) {
      ok_ = false;
    }
  }
  // Opens an attribute whose payload is whatever is added until End(); the
  // offset (not a pointer) survives any reallocation.
  size_t Begin(int type) {
    if (!ok_) return 0;
    const size_t offset = static_cast<size_t>(
        static_cast<char*>(nlmsg_tail(nlmsg_hdr(msg_.get()))) -
        reinterpret_cast<char*>(nlmsg_hdr(msg_.get())));
    if (nla_put(msg_.get(), type, 0, nullptr) < 0) ok_ = false;
    return offset;
  }
  void End(size_t offset) {
    if (!ok_) return;
    char* base = reinterpret_cast<char*>(nlmsg_hdr(msg_.get()));
    nlattr* attr = reinterpret_cast<nlattr*>(base + offset);
    attr->nla_len = static_cast<uint16_t>(static_cast<char*>(nlmsg_tail(nlmsg_hdr(msg_.get()))) -
                                          reinterpret_cast<char*>(attr));
  }

 private:
  MsgPtr msg_;
  bool ok_ = true;
};

// What one request/response exchange collected.
struct Exchange {
  uint32_t seq = 0;
  int error = 0;  // the kernel's errno, 0 for none
  std::string extack;
  bool done = false;
  const std::function<void(const nlmsghdr*)>* on_message = nullptr;
};

// The extended-ack text ("Specified qdisc kind is unknown") after an error.
std::string ExtackText(const nlmsgerr* err) {
  const nlmsghdr* hdr = reinterpret_cast<const nlmsghdr*>(
      reinterpret_cast<const char*>(err) - NLMSG_HDRLEN);
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  size_t offset = sizeof(nlmsgerr);
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  offset = NLMSG_ALIGN(offset);
  const size_t payload = hdr->nlmsg_len - NLMSG_HDRLEN;
  if (offset >= payload) return "";
  nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
  nlattr* head = reinterpret_cast<nlattr*>(const_cast<char*>(
      reinterpret_cast<const char*>(err) + offset));
  if (nla_parse(tb, NLMSGERR_ATTR_MAX, head, static_cast<int>(payload - offset), nullptr) < 0) {
    return "";
  }
  return AttrString(tb[NLMSGERR_ATTR_MSG]);
}

int OnValid(nl_msg* msg, void* arg) {
  auto* exchange = static_cast<Exchange*>(arg);
  const nlmsghdr* hdr = nlmsg_hdr(msg);
  if (hdr->nlmsg_seq != exchange->seq) return NL_SKIP;  // a stale reply
  if (exchange->on_message != nullptr) (*exchange->on_message)(hdr);
  if (!(hdr->nlmsg_flags & NLM_F_MULTI)) {
    exchange->done = true;
    return NL_STOP;
  }
  return NL_OK;
}

int OnDone(nl_msg* msg, void* arg) {
  auto* exchange = static_cast<Exchange*>(arg);
  if (nlmsg_hdr(msg)->nlmsg_seq != exchange->seq) return NL_SKIP;
  exchange->done = true;
  return NL_STOP;
}

int OnError(sockaddr_nl*, nlmsgerr* err, void* arg) {
  auto* exchange = static_cast<Exchange*>(arg);
  const nlmsghdr* hdr = reinterpret_cast<const nlmsghdr*>(
      reinterpret_cast<const char*>(err) - NLMSG_HDRLEN);
  if (hdr->nlmsg_seq != exchange->seq) return NL_SKIP;
  exchange->error = -err->error;
  exchange->extack = ExtackText(err);
  exchange->done = true;
  return NL_STOP;
}

// Sends `request` and reads replies until the ack, the dump's end or the
// first non-multipart reply (handed to `on_message`). The one place netlink
// errors become a Status.
absl::Status Transact(nl_sock* socket, Request& request, absl::string_view what,
                      const std::function<void(const nlmsghdr*)>& on_message = nullptr) {
  if (!request.ok()) {
    return absl::InternalError(absl::StrCat(what, ": netlink message too large"));
  }
  std::unique_ptr<nl_cb, CbDeleter> cb(nl_cb_alloc(NL_CB_DEFAULT));
  if (cb == nullptr) return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory"));
  Exchange exchange;
  if (on_message) exchange.on_message = &on_message;
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, OnValid, &exchange);
  nl_cb_set(cb.get(), NL_CB_FINISH, NL_CB_CUSTOM, OnDone, &exchange);
  nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, OnDone, &exchange);
  nl_cb_err(cb.get(), NL_CB_CUSTOM, OnError, &exchange);
  const int sent = nl_send_auto(socket, request.get());
  if (sent < 0) {
    return absl::InternalError(absl::StrCat(what, ": send: ", nl_geterror(sent)));
  }
  exchange.seq = nlmsg_hdr(request.get())->nlmsg_seq;
  while (!exchange.done) {
    const int received = nl_recvmsgs(socket, cb.get());
    if (exchange.error != 0) break;
    if (received < 0) {
      return absl::InternalError(absl::StrCat(what, ": receive: ", nl_geterror(received)));
    }
  }
  if (exchange.error == 0) return absl::OkStatus();
  absl::Status status = faultline::ErrnoToStatus(exchange.error, what);
  if (exchange.extack.empty()) return status;
  return absl::Status(status.code(), absl::StrCat(status.message(), " (", exchange.extack, ")"));
}

tcmsg TcHeader(int ifindex, uint32_t parent, uint32_t handle, uint32_t info = 0) {
  tcmsg tcm{};
  tcm.tcm_family = AF_UNSPEC;
  tcm.tcm_ifindex = ifindex;
  tcm.tcm_parent = parent;
  tcm.tcm_handle = handle;
  tcm.tcm_info = info;
  return tcm;
}

TcStats ParseStats(nlattr** tca) {
  TcStats stats;
  if (tca[TCA_STATS2] != nullptr) {
    nlattr* tb[TCA_STATS_MAX + 1] = {};
    if (nla_parse_nested(tb, TCA_STATS_MAX, tca[TCA_STATS2], nullptr) == 0) {
      if (tb[TCA_STATS_BASIC] != nullptr &&
          nla_len(tb[TCA_STATS_BASIC]) >= static_cast<int>(sizeof(gnet_stats_basic))) {
        gnet_stats_basic basic;
        std::memcpy(&basic, nla_data(tb[TCA_STATS_BASIC]), sizeof(basic));
        stats.bytes = basic.bytes;
        stats.packets = basic.packets;
      }
      if (tb[TCA_STATS_PKT64] != nullptr && nla_len(tb[TCA_STATS_PKT64]) >= 8) {
        stats.packets = nla_get_u64(tb[TCA_STATS_PKT64]);
      }
      if (tb[TCA_STATS_QUEUE] != nullptr &&
          nla_len(tb[TCA_STATS_QUEUE]) >= static_cast<int>(sizeof(gnet_stats_queue))) {
        gnet_stats_queue queue;
        std::memcpy(&queue, nla_data(tb[TCA_STATS_QUEUE]), sizeof(queue));
        stats.qlen = queue.qlen;
        stats.backlog_bytes = queue.backlog;
        stats.drops = queue.drops;
        stats.requeues = queue.requeues;
        stats.overlimits = queue.overlimits;
      }
      return stats;
    }
  }
  if (tca[TCA_STATS] != nullptr && nla_len(tca[TCA_STATS]) >= static_cast<int>(sizeof(tc_stats))) {
    tc_stats old;
    std::memcpy(&old, nla_data(tca[TCA_STATS]), sizeof(old));
    stats.bytes = old.bytes;
    stats.packets = old.packets;
    stats.drops = old.drops;
    stats.overlimits = old.overlimits;
    stats.qlen = old.qlen;
    stats.backlog_bytes = old.backlog;
  }
  return stats;
}

absl::Status LinkQuery(nl_sock* socket, int ifindex, const std::string& name, LinkInfo* out) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  Request request(RTM_GETLINK, 0, &ifi, sizeof(ifi));
  if (ifindex == 0) request.PutString(IFLA_IFNAME, name);
  bool found = false;
  std::function<void(const nlmsghdr*)> parse = [&](const nlmsghdr* hdr) {
    if (hdr->nlmsg_type != RTM_NEWLINK) return;
    const auto* info = static_cast<const ifinfomsg*>(nlmsg_data(hdr));
    nlattr* tb[IFLA_MAX + 1] = {};
    if (nlmsg_parse(const_cast<nlmsghdr*>(hdr), sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0) {
      return;
    }
    found = true;
    out->ifindex = info->ifi_index;
    out->up = (info->ifi_flags & IFF_UP) != 0;
    out->name = AttrString(tb[IFLA_IFNAME]);
    out->alias = AttrString(tb[IFLA_IFALIAS]);
    out->txqlen = AttrU32(tb[IFLA_TXQLEN]);
    if (tb[IFLA_LINKINFO] != nullptr) {
      nlattr* li[IFLA_INFO_MAX + 1] = {};
      if (nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) == 0) {
        out->kind = AttrString(li[IFLA_INFO_KIND]);
      }
    }
  };
  const std::string what =
      ifindex != 0 ? absl::StrCat("look up link ", ifindex) : absl::StrCat("look up link ", name);
  absl::Status status = Transact(socket, request, what, parse);
  if (status.code() == absl::StatusCode::kNotFound || (status.ok() && !found)) {
    return absl::NotFoundError(ifindex != 0 ? absl::StrCat("no link with ifindex ", ifindex)
                                            : absl::StrCat("no interface named \"", name, "\""));
  }
  return status;
}

const char* QdiscKind(const QdiscParams& params) {
  struct Visitor {
    const char* operator()(const NetemParams&) const { return "netem"; }
    const char* operator()(const TbfParams&) const { return "tbf"; }
    const char* operator()(const HtbParams&) const { return "htb"; }
    const char* operator()(const BfifoParams&) const { return "bfifo"; }
    const char* operator()(const IngressParams&) const { return "ingress"; }
  };
  return std::visit(Visitor{}, params);
}

void PutNetemOptions(Request& request, const NetemParams& p) {
  const size_t options = request.Begin(TCA_OPTIONS);
  tc_netem_qopt qopt{};
  qopt.latency = Saturate32(p.latency_ns >> kPschedShift);
  qopt.jitter = Saturate32(p.jitter_ns >> kPschedShift);
  qopt.limit = p.limit_packets;
  qopt.loss = p.gilbert_elliott ? 0 : p.loss;
  qopt.gap = p.gap;
  qopt.duplicate = p.duplicate;
  request.Append(&qopt, sizeof(qopt));
  if (p.delay_correlation || p.loss_correlation || p.duplicate_correlation) {
    tc_netem_corr corr{};
    corr.delay_corr = p.delay_correlation;
    corr.loss_corr = p.loss_correlation;
    corr.dup_corr = p.duplicate_correlation;
    request.Put(TCA_NETEM_CORR, &corr, sizeof(corr));
  }
  if (p.reorder) {
    tc_netem_reorder reorder{};
    reorder.probability = p.reorder;
    reorder.correlation = p.reorder_correlation;
    request.Put(TCA_NETEM_REORDER, &reorder, sizeof(reorder));
  }
  if (p.corrupt) {
    tc_netem_corrupt corrupt{};
    corrupt.probability = p.corrupt;
    corrupt.correlation = p.corrupt_correlation;
    request.Put(TCA_NETEM_CORRUPT, &corrupt, sizeof(corrupt));
  }
  if (p.gilbert_elliott) {
    const size_t loss = request.Begin(TCA_NETEM_LOSS);
    tc_netem_gemodel ge{};
    ge.p = p.ge_p;
    ge.r = p.ge_r;
    ge.h = p.ge_h;
    ge.k1 = p.ge_k1;
    request.Put(NETEM_LOSS_GE, &ge, sizeof(ge));
    request.End(loss);
  }
  if (!p.distribution.empty()) {
    request.Put(TCA_NETEM_DELAY_DIST, p.distribution.data(),
                p.distribution.size() * sizeof(int16_t));
  }
  // Nanosecond fields: exact where the qopt's 64 ns ticks would round.
  request.PutU64(TCA_NETEM_LATENCY64, p.latency_ns);
  request.PutU64(TCA_NETEM_JITTER64, p.jitter_ns);
  request.End(options);
}

void PutTbfOptions(Request& request, const TbfParams& p) {
  const size_t options = request.Begin(TCA_OPTIONS);
  tc_tbf_qopt qopt{};
  qopt.rate = RateSpec(p.rate_bytes_per_s);
  qopt.peakrate.linklayer = TC_LINKLAYER_ETHERNET;
  qopt.limit = p.limit_bytes;
  qopt.buffer = BytesToTicks(p.burst_bytes, p.rate_bytes_per_s);
  request.Put(TCA_TBF_PARMS, &qopt, sizeof(qopt));
  if (p.rate_bytes_per_s > std::numeric_limits<uint32_t>::max()) {
    request.PutU64(TCA_TBF_RATE64, p.rate_bytes_per_s);
  }
  request.PutU32(TCA_TBF_BURST, p.burst_bytes);
  request.End(options);
}

void PutHtbOptions(Request& request, const HtbParams& p) {
  const size_t options = request.Begin(TCA_OPTIONS);
  tc_htb_glob glob{};
  glob.version = TC_HTB_PROTOVER;
  glob.rate2quantum = 10;
  glob.defcls = p.default_minor;
  request.Put(TCA_HTB_INIT, &glob, sizeof(glob));
  request.PutU32(TCA_HTB_DIRECT_QLEN, p.direct_qlen);
  request.End(options);
}

void PutOptions(Request& request, const QdiscParams& params) {
  if (const auto* netem = std::get_if<NetemParams>(&params)) {
    PutNetemOptions(request, *netem);
  } else if (const auto* tbf = std::get_if<TbfParams>(&params)) {
    PutTbfOptions(request, *tbf);
  } else if (const auto* htb = std::get_if<HtbParams>(&params)) {
    PutHtbOptions(request, *htb);
  } else if (const auto* bfifo = std::get_if<BfifoParams>(&params)) {
    tc_fifo_qopt qopt{};
    qopt.limit = bfifo->limit_bytes;
    request.Put(TCA_OPTIONS, &qopt, sizeof(qopt));
  }
  // ingress: no options.
}

int ModeFlags(QdiscMode mode) {
  return NLM_F_ACK | NLM_F_CREATE | (mode == QdiscMode::kCreate ? NLM_F_EXCL : NLM_F_REPLACE);
}

}  // namespace

std::string FormatTcHandle(uint32_t handle) {
  if (handle == kTcRootParent) return "root";
  if (handle == kTcIngressParent) return "ingress";
  if ((handle & 0xFFFFu) == 0) return absl::StrFormat("%x:", handle >> 16);
  return absl::StrFormat("%x:%x", handle >> 16, handle & 0xFFFFu);
}

absl::StatusOr<Rtnetlink> Rtnetlink::Open() {
  nl_sock* socket = nl_socket_alloc();
  if (socket == nullptr) return absl::ResourceExhaustedError("allocate netlink socket");
  Rtnetlink rtnl(socket);
  if (int err = nl_connect(socket, NETLINK_ROUTE); err < 0) {
    return absl::InternalError(absl::StrCat("connect rtnetlink: ", nl_geterror(err)));
  }
  nl_socket_disable_auto_ack(socket);
  const int one = 1;
  const int fd = nl_socket_get_fd(socket);
  // The kernel's reason text with every error, without echoing our (possibly
  // 64 KiB) request back.
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  return rtnl;
}

Rtnetlink::~Rtnetlink() {
  if (socket_ != nullptr) nl_socket_free(socket_);
}

Rtnetlink::Rtnetlink(Rtnetlink&& other) noexcept : socket_(std::exchange(other.socket_, nullptr)) {}

Rtnetlink& Rtnetlink::operator=(Rtnetlink&& other) noexcept {
  if (this != &other) {
    if (socket_ != nullptr) nl_socket_free(socket_);
    socket_ = std::exchange(other.socket_, nullptr);
  }
  return *this;
}

absl::StatusOr<LinkInfo> Rtnetlink::LinkByName(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrCat("bad interface name \"", name, "\""));
  }
  LinkInfo info;
  FL_RETURN_IF_ERROR(LinkQuery(socket_, 0, name, &info));
  return info;
}

absl::StatusOr<LinkInfo> Rtnetlink::LinkByIndex(int ifindex) {
  if (ifindex <= 0) return absl::InvalidArgumentError(absl::StrCat("bad ifindex ", ifindex));
  LinkInfo info;
  FL_RETURN_IF_ERROR(LinkQuery(socket_, ifindex, "", &info));
  return info;
}

absl::StatusOr<int> Rtnetlink::RouteInterface(int family, const std::array<uint8_t, 16>& address) {
  rtmsg rtm{};
  rtm.rtm_family = static_cast<unsigned char>(family);
  rtm.rtm_dst_len = family == AF_INET ? 32 : 128;
  Request request(RTM_GETROUTE, 0, &rtm, sizeof(rtm));
  request.Put(RTA_DST, address.data(), family == AF_INET ? 4 : 16);
  int oif = 0;
  std::function<void(const nlmsghdr*)> parse = [&](const nlmsghdr* hdr) {
    if (hdr->nlmsg_type != RTM_NEWROUTE) return;
    nlattr* tb[RTA_MAX + 1] = {};
    if (nlmsg_parse(const_cast<nlmsghdr*>(hdr), sizeof(rtmsg), tb, RTA_MAX, nullptr) == 0) {
      oif = static_cast<int>(AttrU32(tb[RTA_OIF]));
    }
  };
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, address.data(), text, sizeof(text));
  absl::Status status = Transact(socket_, request, absl::StrCat("route to ", text), parse);
  if (!status.ok() || oif == 0) {
    return absl::NotFoundError(absl::StrCat(
        "no route to ", text, status.ok() ? "" : absl::StrCat(": ", status.message())));
  }
  return oif;
}

absl::StatusOr<int> Rtnetlink::CreateIfb(const std::string& name, const std::string& alias,
                                         uint32_t txqlen) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  Request create(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
  create.PutString(IFLA_IFNAME, name);
  create.PutU32(IFLA_TXQLEN, txqlen);
  const size_t linkinfo = create.Begin(IFLA_LINKINFO);
  create.PutString(IFLA_INFO_KIND, "ifb");
  create.End(linkinfo);
  FL_RETURN_IF_ERROR(Transact(socket_, create, absl::StrCat("create ifb link ", name)));
  absl::StatusOr<LinkInfo> link = LinkByName(name);
  if (!link.ok()) return link.status();
  ifinfomsg up{};
  up.ifi_family = AF_UNSPEC;
  up.ifi_index = link->ifindex;
  up.ifi_flags = IFF_UP;
  up.ifi_change = IFF_UP;
  Request set(RTM_NEWLINK, NLM_F_ACK, &up, sizeof(up));
  set.PutString(IFLA_IFALIAS, alias);
  if (absl::Status status = Transact(socket_, set, absl::StrCat("bring up ifb link ", name));
      !status.ok()) {
    (void)DeleteLink(link->ifindex);
    return status;
  }
  return link->ifindex;
}

absl::Status Rtnetlink::DeleteLink(int ifindex) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  Request request(RTM_DELLINK, NLM_F_ACK, &ifi, sizeof(ifi));
  return Transact(socket_, request, absl::StrCat("delete link ", ifindex));
}

absl::StatusOr<std::vector<QdiscInfo>> Rtnetlink::Qdiscs(int ifindex) {
  tcmsg tcm = TcHeader(ifindex, 0, 0);
  Request request(RTM_GETQDISC, NLM_F_DUMP, &tcm, sizeof(tcm));
  std::vector<QdiscInfo> qdiscs;
  std::function<void(const nlmsghdr*)> parse = [&](const nlmsghdr* hdr) {
    if (hdr->nlmsg_type != RTM_NEWQDISC) return;
    const auto* t = static_cast<const tcmsg*>(nlmsg_data(hdr));
    // The kernel dumps every link's qdiscs; keep the one asked for.
    if (t->tcm_ifindex != ifindex) return;
    nlattr* tb[TCA_MAX + 1] = {};
    if (nlmsg_parse(const_cast<nlmsghdr*>(hdr), sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0) return;
    QdiscInfo info;
    info.ifindex = t->tcm_ifindex;
    info.handle = t->tcm_handle;
    info.parent = t->tcm_parent;
    info.kind = AttrString(tb[TCA_KIND]);
    info.stats = ParseStats(tb);
    info.has_size_table = tb[TCA_STAB] != nullptr;
    if (info.kind == "htb" && tb[TCA_OPTIONS] != nullptr) {
      nlattr* htb[TCA_HTB_MAX + 1] = {};
      if (nla_parse_nested(htb, TCA_HTB_MAX, tb[TCA_OPTIONS], nullptr) == 0 &&
          htb[TCA_HTB_INIT] != nullptr &&
          nla_len(htb[TCA_HTB_INIT]) >= static_cast<int>(sizeof(tc_htb_glob))) {
        tc_htb_glob glob;
        std::memcpy(&glob, nla_data(htb[TCA_HTB_INIT]), sizeof(glob));
        info.htb_direct_packets = glob.direct_pkts;
      }
    }
    info.message.assign(reinterpret_cast<const char*>(hdr), hdr->nlmsg_len);
    qdiscs.push_back(std::move(info));
  };
  FL_RETURN_IF_ERROR(
      Transact(socket_, request, absl::StrCat("list qdiscs of ifindex ", ifindex), parse));
  return qdiscs;
}

absl::StatusOr<std::vector<ClassInfo>> Rtnetlink::Classes(int ifindex) {
  tcmsg tcm = TcHeader(ifindex, 0, 0);
  Request request(RTM_GETTCLASS, NLM_F_DUMP, &tcm, sizeof(tcm));
  std::vector<ClassInfo> classes;
  std::function<void(const nlmsghdr*)> parse = [&](const nlmsghdr* hdr) {
    if (hdr->nlmsg_type != RTM_NEWTCLASS) return;
    const auto* t = static_cast<const tcmsg*>(nlmsg_data(hdr));
    if (t->tcm_ifindex != ifindex) return;
    nlattr* tb[TCA_MAX + 1] = {};
    if (nlmsg_parse(const_cast<nlmsghdr*>(hdr), sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0) return;
    ClassInfo info;
    info.handle = t->tcm_handle;
    info.parent = t->tcm_parent;
    info.kind = AttrString(tb[TCA_KIND]);
    info.stats = ParseStats(tb);
    classes.push_back(std::move(info));
  };
  FL_RETURN_IF_ERROR(
      Transact(socket_, request, absl::StrCat("list classes of ifindex ", ifindex), parse));
  return classes;
}

absl::StatusOr<std::vector<FilterInfo>> Rtnetlink::Filters(int ifindex, uint32_t parent) {
  tcmsg tcm = TcHeader(ifindex, parent, 0);
  Request request(RTM_GETTFILTER, NLM_F_DUMP, &tcm, sizeof(tcm));
  std::vector<FilterInfo> filters;
  std::function<void(const nlmsghdr*)> parse = [&](const nlmsghdr* hdr) {
    if (hdr->nlmsg_type != RTM_NEWTFILTER) return;
    const auto* t = static_cast<const tcmsg*>(nlmsg_data(hdr));
    if (t->tcm_ifindex != ifindex) return;
    nlattr* tb[TCA_MAX + 1] = {};
    if (nlmsg_parse(const_cast<nlmsghdr*>(hdr), sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0) return;
    FilterInfo info;
    info.parent = t->tcm_parent;
    info.prio = static_cast<uint16_t>(t->tcm_info >> 16);
    info.protocol = ntohs(static_cast<uint16_t>(t->tcm_info & 0xFFFFu));
    info.handle = t->tcm_handle;
    info.kind = AttrString(tb[TCA_KIND]);
    filters.push_back(std::move(info));
  };
  absl::Status status = Transact(
      socket_, request,
      absl::StrCat("list filters of ifindex ", ifindex, " parent ", FormatTcHandle(parent)), parse);
  // No qdisc at `parent`: nothing can be attached there.
  if (status.code() == absl::StatusCode::kNotFound ||
      status.code() == absl::StatusCode::kInvalidArgument) {
    return filters;
  }
  FL_RETURN_IF_ERROR(status);
  return filters;
}

absl::Status Rtnetlink::AddQdisc(int ifindex, uint32_t parent, uint32_t handle,
                                 const QdiscParams& params, QdiscMode mode) {
  tcmsg tcm = TcHeader(ifindex, parent, handle);
  Request request(RTM_NEWQDISC, ModeFlags(mode), &tcm, sizeof(tcm));
  const char* kind = QdiscKind(params);
  request.PutString(TCA_KIND, kind);
  PutOptions(request, params);
  return Transact(socket_, request,
                  absl::StrCat(mode == QdiscMode::kCreate ? "add " : "replace with ", kind,
                               " qdisc ", FormatTcHandle(handle), " on ifindex ", ifindex,
                               " parent ", FormatTcHandle(parent)));
}

absl::Status Rtnetlink::RecreateQdisc(int ifindex, const std::string& message, QdiscMode mode) {
  const size_t size = message.size();
  if (size < NLMSG_HDRLEN + sizeof(tcmsg) || size > kMaxMessageBytes) {
    return absl::InvalidArgumentError("saved qdisc message is truncated or too large");
  }
  // Copy into aligned storage: protobuf bytes carry no alignment promise.
  std::vector<uint32_t> storage((size + 3) / 4);
  std::memcpy(storage.data(), message.data(), size);
  auto* hdr = reinterpret_cast<nlmsghdr*>(storage.data());
  if (hdr->nlmsg_type != RTM_NEWQDISC || hdr->nlmsg_len != size) {
    return absl::InvalidArgumentError("saved qdisc message is not an RTM_NEWQDISC message");
  }
  const auto* saved = static_cast<const tcmsg*>(nlmsg_data(hdr));
  nlattr* tb[TCA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0 || tb[TCA_KIND] == nullptr) {
    return absl::InvalidArgumentError("saved qdisc message has no kind");
  }
  tcmsg tcm = TcHeader(ifindex, saved->tcm_parent, saved->tcm_handle);
  Request request(RTM_NEWQDISC, ModeFlags(mode), &tcm, sizeof(tcm));
  const std::string kind = AttrString(tb[TCA_KIND]);
  request.PutString(TCA_KIND, kind);
  if (tb[TCA_OPTIONS] != nullptr) {
    request.Put(tb[TCA_OPTIONS]->nla_type, nla_data(tb[TCA_OPTIONS]),
                static_cast<size_t>(nla_len(tb[TCA_OPTIONS])));
  }
  return Transact(socket_, request,
                  absl::StrCat("re-create ", kind, " qdisc ", FormatTcHandle(saved->tcm_handle),
                               " on ifindex ", ifindex));
}

absl::Status Rtnetlink::DeleteQdisc(int ifindex, uint32_t parent, uint32_t handle) {
  tcmsg tcm = TcHeader(ifindex, parent, handle);
  Request request(RTM_DELQDISC, NLM_F_ACK, &tcm, sizeof(tcm));
  return Transact(socket_, request,
                  absl::StrCat("delete qdisc ", FormatTcHandle(handle), " on ifindex ", ifindex));
}

absl::Status Rtnetlink::AddHtbClass(int ifindex, uint32_t parent, uint32_t classid,
                                    const HtbClassParams& p) {
  tcmsg tcm = TcHeader(ifindex, parent, classid);
  Request request(RTM_NEWTCLASS, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &tcm, sizeof(tcm));
  request.PutString(TCA_KIND, "htb");
  const size_t options = request.Begin(TCA_OPTIONS);
  tc_htb_opt opt{};
  opt.rate = RateSpec(p.rate_bytes_per_s);
  opt.ceil = RateSpec(p.rate_bytes_per_s);
  opt.buffer = BytesToTicks(p.burst_bytes, p.rate_bytes_per_s);
  opt.cbuffer = opt.buffer;
  opt.quantum = p.quantum_bytes;
  request.Put(TCA_HTB_PARMS, &opt, sizeof(opt));
  if (p.rate_bytes_per_s > std::numeric_limits<uint32_t>::max()) {
    request.PutU64(TCA_HTB_RATE64, p.rate_bytes_per_s);
    request.PutU64(TCA_HTB_CEIL64, p.rate_bytes_per_s);
  }
  request.End(options);
  return Transact(socket_, request,
                  absl::StrCat("add htb class ", FormatTcHandle(classid), " on ifindex ", ifindex));
}

absl::Status Rtnetlink::AddU32Filter(int ifindex, const U32Filter& filter) {
  const uint32_t info = (static_cast<uint32_t>(filter.prio) << 16) | htons(filter.protocol);
  tcmsg tcm = TcHeader(ifindex, filter.parent, 0, info);
  Request request(RTM_NEWTFILTER, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &tcm, sizeof(tcm));
  request.PutString(TCA_KIND, "u32");
  const size_t options = request.Begin(TCA_OPTIONS);
  if (filter.classid != 0) request.PutU32(TCA_U32_CLASSID, filter.classid);
  std::vector<U32Key> keys = filter.keys;
  if (keys.empty()) keys.push_back(U32Key{});  // one all-zero key matches everything
  std::vector<char> sel(sizeof(tc_u32_sel) + keys.size() * sizeof(tc_u32_key), 0);
  auto* header = reinterpret_cast<tc_u32_sel*>(sel.data());
  header->flags = TC_U32_TERMINAL;
  header->nkeys = static_cast<unsigned char>(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    tc_u32_key key{};
    key.mask = htonl(keys[i].mask);
    key.val = htonl(keys[i].value & keys[i].mask);
    key.off = keys[i].offset;
    std::memcpy(sel.data() + sizeof(tc_u32_sel) + i * sizeof(tc_u32_key), &key, sizeof(key));
  }
  request.Put(TCA_U32_SEL, sel.data(), sel.size());
  if (filter.redirect_ifindex != 0) {
    const size_t actions = request.Begin(TCA_U32_ACT);
    const size_t first = request.Begin(1);  // action order 1
    request.PutString(TCA_ACT_KIND, "mirred");
    const size_t act_options = request.Begin(TCA_ACT_OPTIONS);
    tc_mirred mirred{};
    mirred.action = TC_ACT_STOLEN;
    mirred.eaction = TCA_EGRESS_REDIR;
    mirred.ifindex = static_cast<uint32_t>(filter.redirect_ifindex);
    request.Put(TCA_MIRRED_PARMS, &mirred, sizeof(mirred));
    request.End(act_options);
    request.End(first);
    request.End(actions);
  }
  request.End(options);
  return Transact(socket_, request,
                  absl::StrCat("add u32 filter prio ", filter.prio, " on ifindex ", ifindex,
                               " parent ", FormatTcHandle(filter.parent)));
}

absl::Status Rtnetlink::DeleteFilters(int ifindex, uint32_t parent, uint16_t prio,
                                      uint16_t protocol) {
  const uint32_t info = (static_cast<uint32_t>(prio) << 16) | htons(protocol);
  tcmsg tcm = TcHeader(ifindex, parent, 0, info);
  Request request(RTM_DELTFILTER, NLM_F_ACK, &tcm, sizeof(tcm));
  return Transact(socket_, request,
                  absl::StrCat("delete filters prio ", prio, " on ifindex ", ifindex, " parent ",
                               FormatTcHandle(parent)));
}

}  // namespace faultline::agent
