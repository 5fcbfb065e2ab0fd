#include "agent/faults/network/tc_fault.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/faults/network/identity.h"
#include "agent/faults/network/network_fault.h"
#include "agent/faults/network/tc_distribution.h"
#include "agent/faults/network/tc_filter.h"
#include "agent/host/linux/netlink.h"
#include "common/status.h"

namespace faultline::agent {
namespace {

constexpr uint32_t kRootMajor = 0xFA17;  // our root qdisc, "fa17:"
constexpr uint32_t kLeafMajor = 0xFA18;  // our leaf under class fa17:1 (tree layout)
constexpr uint32_t kRootHandle = kRootMajor << 16;
constexpr uint32_t kLeafHandle = kLeafMajor << 16;
constexpr uint32_t kFaultClass = kRootHandle | 1;
constexpr uint32_t kDirectClass = kRootHandle;  // HTB: "X:0" selects the direct queue
constexpr uint16_t kPrioExemptV4 = 1;
constexpr uint16_t kPrioExemptV6 = 2;
constexpr uint16_t kPrioMatchV4 = 3;
constexpr uint16_t kPrioMatchV6 = 4;
constexpr uint16_t kIngressPrio = 0xFA17;  // 64023: our redirect on the interface's ingress
// A class rate that never limits (the tree layout's netem/tbf class).
constexpr uint64_t kUnlimitedBytesPerS = 100'000'000'000 / 8;
constexpr uint32_t kUnlimitedBurstBytes = 1'000'000;
constexpr uint32_t kMaxQuantum = 200'000;  // HTB's own upper bound
constexpr uint32_t kMinBucketBytes = 1600;
constexpr uint32_t kMinQueueBytes = 16 * 1514;
constexpr uint32_t kNetemLimitPackets = 10'000;
constexpr uint32_t kQueueLen = 1000;
constexpr const char* kIfbPrefix = "flb";

// Probability in percent -> the kernel's 0..2^32-1 scale.
uint32_t KernelScale(double percent) {
  const double clamped = std::clamp(percent, 0.0, 100.0);
  return static_cast<uint32_t>(
      std::llround(clamped / 100.0 * std::numeric_limits<uint32_t>::max()));
}

uint32_t Saturate32(uint64_t value) {
  return static_cast<uint32_t>(std::min<uint64_t>(value, std::numeric_limits<uint32_t>::max()));
}

// Which fault of this process owns (netns, ifindex, direction).
class Registry {
 public:
  using Key = std::tuple<uint64_t, int, bool>;  // (CurrentNetns(), ifindex, ingress)
  static Registry& Get() {
    static Registry* registry = new Registry();
    return *registry;
  }
  std::string Owner(const Key& key) {
    std::lock_guard lock(mu_);
    auto it = owners_.find(key);
    return it == owners_.end() ? "" : it->second;
  }
  // False (and the owner) when someone else holds the key.
  bool Claim(const Key& key, const std::string& fault_id, std::string* owner) {
    std::lock_guard lock(mu_);
    auto [it, inserted] = owners_.emplace(key, fault_id);
    if (inserted || it->second == fault_id) return true;
    *owner = it->second;
    return false;
  }
  void Release(const Key& key, const std::string& fault_id) {
    std::lock_guard lock(mu_);
    auto it = owners_.find(key);
    if (it != owners_.end() && it->second == fault_id) owners_.erase(it);
  }

 private:
  std::mutex mu_;
  std::map<Key, std::string> owners_;
};

class TcFault final : public Fault {
 public:
  TcFault(const v1::FaultSpec& spec, std::string engine, const FaultContext& context,
          QdiscParams leaf, std::optional<HtbClassParams> capped_class)
      : spec_(spec),
        engine_(std::move(engine)),
        context_(context),
        kind_(KindName(spec)),
        target_(NetworkTargetOf(spec)),
        ingress_(target_.direction() == v1::NETWORK_DIRECTION_INGRESS),
        leaf_(std::move(leaf)),
        capped_class_(std::move(capped_class)),
        matches_(TargetMatches(target_)),
        exemptions_(target_.allow_control_plane()
                        ? std::vector<TcMatch>{}
                        : ExemptionMatches(context.control_port, context.caller_address)),
        tree_(engine_ == "htb" || !matches_.empty() || !exemptions_.empty()) {}

  absl::string_view kind() const override { return kind_; }
  std::string engine() const override { return engine_; }

  absl::Status Prepare() override;
  absl::Status Apply() override;
  absl::Status Revert() override;
  Observation Observe() override;
  v1::RevertState revert_state() const override {
    v1::RevertState state;
    *state.mutable_network() = state_;
    return state;
  }
  void Restore(const v1::RevertState& state) override { state_ = state.network(); }
  std::string target() const override;

 private:
  // The state being built by Prepare, else the committed one.
  const v1::NetworkRevert& Current() const { return candidate_ ? *candidate_ : state_; }
  std::string Where() const {
    const std::string& name =
        Current().interface().empty() ? target_.interface() : Current().interface();
    return absl::StrCat("interface ", name.empty() ? "(route)" : name, " ",
                        ingress_ ? "ingress" : "egress");
  }
  Registry::Key Slot() const { return {netns_, Current().ifindex(), ingress_}; }
  // True when another fault of this process holds our interface and
  // direction: then nothing there is ours to touch.
  bool HeldByAnother() const {
    const std::string owner = Registry::Get().Owner(Slot());
    return !owner.empty() && owner != context_.fault_id;
  }
  absl::StatusOr<LinkInfo> ResolveInterface(Rtnetlink& rtnl) const;
  absl::Status CheckConflicts(Rtnetlink& rtnl, const std::vector<QdiscInfo>& qdiscs);
  absl::Status CheckRestorableRoot(Rtnetlink& rtnl, const QdiscInfo& root) const;
  absl::Status InstallLayout(Rtnetlink& rtnl, int ifindex, uint32_t txqlen, QdiscMode mode);
  absl::Status RevertHost(Rtnetlink& rtnl);
  absl::Status RevertEgress(Rtnetlink& rtnl);
  absl::Status RevertIngress(Rtnetlink& rtnl);
  std::string IfbAlias() const { return absl::StrCat("faultline ", context_.fault_id); }

  const v1::FaultSpec spec_;
  const std::string engine_;
  const FaultContext context_;
  const std::string kind_;
  const v1::NetworkTarget target_;
  const bool ingress_;
  const QdiscParams leaf_;
  const std::optional<HtbClassParams> capped_class_;  // engine htb: the capped class
  const std::vector<TcMatch> matches_;
  const std::vector<TcMatch> exemptions_;
  const bool tree_;

  v1::NetworkRevert state_;
  const v1::NetworkRevert* candidate_ = nullptr;
  uint64_t netns_ = 0;  // CurrentNetns() at Prepare; 0 for a restored fault
  bool prepared_ = false;
  // What Prepare saw as the root (handle, kind), re-checked by Apply.
  uint32_t prepared_root_handle_ = 0;
  std::string prepared_root_kind_;
  uint32_t txqlen_ = kQueueLen;
};

absl::StatusOr<LinkInfo> TcFault::ResolveInterface(Rtnetlink& rtnl) const {
  if (!target_.interface().empty()) {
    absl::StatusOr<LinkInfo> link = rtnl.LinkByName(target_.interface());
    if (absl::IsNotFound(link.status())) {
      return absl::NotFoundError(
          absl::StrCat(kind_, ": interface ", target_.interface(), " not found"));
    }
    return link;
  }
  const auto& list = ingress_ && !target_.sources().empty() ? target_.sources()
                                                            : target_.destinations();
  if (list.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kind_, ": no interface and no destination"));
  }
  FL_ASSIGN_OR_RETURN(IpPrefix first, ParseIpPrefix(list[0]));
  FL_ASSIGN_OR_RETURN(int ifindex, rtnl.RouteInterface(first.family, first.address));
  return rtnl.LinkByIndex(ifindex);
}

absl::Status TcFault::CheckRestorableRoot(Rtnetlink& rtnl, const QdiscInfo& root) const {
  const v1::NetworkRevert& state = Current();
  const std::string what = absl::StrCat("the root qdisc ", root.kind, " ",
                                        FormatTcHandle(root.handle), " on ", state.interface());
  const std::string advice = "; the fault could not restore it after revert";
  if (root.has_size_table) {
    return absl::FailedPreconditionError(absl::StrCat(what, " has a size table", advice));
  }
  FL_ASSIGN_OR_RETURN(std::vector<QdiscInfo> qdiscs, rtnl.Qdiscs(state.ifindex()));
  for (const QdiscInfo& q : qdiscs) {
    if (q.handle == root.handle || q.parent == kTcIngressParent || q.handle == 0) continue;
    return absl::FailedPreconditionError(absl::StrCat(what, " has a child qdisc ", q.kind, " ",
                                                      FormatTcHandle(q.handle), advice));
  }
  static const char* const kUserClassKinds[] = {"htb", "hfsc", "cbq", "drr", "qfq"};
  if (std::find(std::begin(kUserClassKinds), std::end(kUserClassKinds), root.kind) !=
      std::end(kUserClassKinds)) {
    FL_ASSIGN_OR_RETURN(std::vector<ClassInfo> classes, rtnl.Classes(state.ifindex()));
    for (const ClassInfo& c : classes) {
      if (TcMajor(c.handle) == TcMajor(root.handle)) {
        return absl::FailedPreconditionError(
            absl::StrCat(what, " has class ", FormatTcHandle(c.handle), advice));
      }
    }
  }
  FL_ASSIGN_OR_RETURN(std::vector<FilterInfo> filters, rtnl.Filters(state.ifindex(), root.handle));
  if (!filters.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(what, " has filters", advice));
  }
  return absl::OkStatus();
}

absl::Status TcFault::CheckConflicts(Rtnetlink& rtnl, const std::vector<QdiscInfo>& qdiscs) {
  const std::string owner = Registry::Get().Owner(Slot());
  if (!owner.empty() && owner != context_.fault_id) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(), " already carries fault ", owner, "; revert it first"));
  }
  if (!ingress_) {
    for (const QdiscInfo& q : qdiscs) {
      if (q.parent == kTcRootParent && TcMajor(q.handle) == kRootMajor) {
        return absl::FailedPreconditionError(absl::StrCat(
            Where(), " already carries a faultline qdisc (", q.kind, " ", FormatTcHandle(q.handle),
            ") that no fault of this agent owns (left by a crashed agent? its recovery removes "
            "it)"));
      }
    }
    return absl::OkStatus();
  }
  FL_ASSIGN_OR_RETURN(std::vector<FilterInfo> filters,
                      rtnl.Filters(Current().ifindex(), kTcIngressFilterParent));
  for (const FilterInfo& f : filters) {
    if (f.prio == kIngressPrio) {
      return absl::FailedPreconditionError(absl::StrCat(
          Where(), " already carries a faultline redirect filter (prio ", kIngressPrio,
          ") that no fault of this agent owns (left by a crashed agent? its recovery removes it)"));
    }
  }
  absl::StatusOr<LinkInfo> ifb = rtnl.LinkByName(Current().ifb());
  if (ifb.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("link ", Current().ifb(), " (the ifb of this fault) already exists"));
  }
  if (!absl::IsNotFound(ifb.status())) return ifb.status();
  return absl::OkStatus();
}

absl::Status TcFault::Prepare() {
  netns_ = CurrentNetns();
  FL_ASSIGN_OR_RETURN(Rtnetlink rtnl, Rtnetlink::Open());
  FL_ASSIGN_OR_RETURN(LinkInfo link, ResolveInterface(rtnl));
  const NetworkSupport& support = context_.network;
  if (tree_ && support.detected && (!support.htb || !support.u32)) {
    return absl::FailedPreconditionError(absl::StrCat(
        kind_, ": ", matches_.empty() ? "exempting the control plane" : "filtering",
        " needs sch_htb and cls_u32, which this host lacks (", support.missing, ")",
        matches_.empty() ? "; set protect_control_plane: false to shape everything" : ""));
  }
  // state_ names host objects only once Prepare has succeeded: a failed
  // Prepare (say, a conflict) must leave Revert with nothing to touch.
  state_.Clear();
  prepared_ = false;
  v1::NetworkRevert state;
  state.set_engine(engine_);
  state.set_interface(link.name);
  state.set_ifindex(link.ifindex);
  state.set_root_handle(kRootHandle);
  if (ingress_) state.set_ifb(TcIfbName(context_.fault_id));
  txqlen_ = std::max(kQueueLen, link.txqlen);
  candidate_ = &state;
  absl::Cleanup forget = [this] { candidate_ = nullptr; };

  FL_ASSIGN_OR_RETURN(std::vector<QdiscInfo> qdiscs, rtnl.Qdiscs(link.ifindex));
  FL_RETURN_IF_ERROR(CheckConflicts(rtnl, qdiscs));

  prepared_root_handle_ = 0;
  prepared_root_kind_.clear();
  if (ingress_) {
    const bool has_ingress = std::any_of(qdiscs.begin(), qdiscs.end(), [](const QdiscInfo& q) {
      return q.parent == kTcIngressParent;
    });
    // Write-ahead: "may create"; Apply clears it if someone was quicker.
    state.set_ingress_qdisc_created(!has_ingress);
    state.set_ingress_filter_prio(kIngressPrio);
  } else {
    for (const QdiscInfo& q : qdiscs) {
      if (q.parent != kTcRootParent) continue;
      prepared_root_handle_ = q.handle;
      prepared_root_kind_ = q.kind;
      if (q.handle != 0) {
        FL_RETURN_IF_ERROR(CheckRestorableRoot(rtnl, q));
        state.set_saved_root_qdisc(q.message);
      }
    }
  }
  state_ = std::move(state);
  prepared_ = true;
  return absl::OkStatus();
}

absl::Status TcFault::InstallLayout(Rtnetlink& rtnl, int ifindex, uint32_t txqlen,
                                    QdiscMode mode) {
  if (!tree_) return rtnl.AddQdisc(ifindex, kTcRootParent, kRootHandle, leaf_, mode);
  HtbParams root;
  root.default_minor = matches_.empty() ? 1 : 0;
  root.direct_qlen = txqlen;
  FL_RETURN_IF_ERROR(rtnl.AddQdisc(ifindex, kTcRootParent, kRootHandle, root, mode));
  // Exemptions before the fault class exists: control packets never meet
  // the fault, not even while it is being built.
  for (const TcMatch& m : exemptions_) {
    U32Filter filter;
    filter.parent = kRootHandle;
    filter.prio = m.protocol == kEthPIp ? kPrioExemptV4 : kPrioExemptV6;
    filter.protocol = m.protocol;
    filter.keys = m.keys;
    filter.classid = kDirectClass;
    FL_RETURN_IF_ERROR(rtnl.AddU32Filter(ifindex, filter));
  }
  HtbClassParams cls;
  if (capped_class_) {
    cls = *capped_class_;
  } else {
    cls.rate_bytes_per_s = kUnlimitedBytesPerS;
    cls.burst_bytes = kUnlimitedBurstBytes;
    cls.quantum_bytes = kMaxQuantum;
  }
  FL_RETURN_IF_ERROR(rtnl.AddHtbClass(ifindex, kRootHandle, kFaultClass, cls));
  FL_RETURN_IF_ERROR(rtnl.AddQdisc(ifindex, kFaultClass, kLeafHandle, leaf_, QdiscMode::kCreate));
  for (const TcMatch& m : matches_) {
    U32Filter filter;
    filter.parent = kRootHandle;
    filter.prio = m.protocol == kEthPIp ? kPrioMatchV4 : kPrioMatchV6;
    filter.protocol = m.protocol;
    filter.keys = m.keys;
    filter.classid = kFaultClass;
    FL_RETURN_IF_ERROR(rtnl.AddU32Filter(ifindex, filter));
  }
  return absl::OkStatus();
}

absl::Status TcFault::Apply() {
  if (!prepared_) return absl::FailedPreconditionError(absl::StrCat(kind_, ": apply before prepare"));
  FL_ASSIGN_OR_RETURN(Rtnetlink rtnl, Rtnetlink::Open());
  // The interface may have gone since Prepare (a container stopped).
  if (absl::StatusOr<LinkInfo> link = rtnl.LinkByIndex(state_.ifindex()); !link.ok()) {
    return absl::Status(link.status().code(),
                        absl::StrCat(Where(), ": ", link.status().message()));
  }
  std::string owner;
  if (!Registry::Get().Claim(Slot(), context_.fault_id, &owner)) {
    state_.Clear();
    prepared_ = false;
    return absl::FailedPreconditionError(
        absl::StrCat(Where(), " already carries fault ", owner, "; revert it first"));
  }
  absl::Status applied = [&]() -> absl::Status {
    if (!ingress_) {
      FL_ASSIGN_OR_RETURN(std::vector<QdiscInfo> qdiscs, rtnl.Qdiscs(state_.ifindex()));
      uint32_t handle = 0;
      std::string kind;
      for (const QdiscInfo& q : qdiscs) {
        if (q.parent == kTcRootParent) {
          handle = q.handle;
          kind = q.kind;
        }
      }
      if (handle != prepared_root_handle_ || kind != prepared_root_kind_) {
        return absl::AbortedError(absl::StrCat("the root qdisc of ", state_.interface(),
                                               " changed since prepare; try again"));
      }
      // From here revert must restore the saved root even if ours vanishes.
      state_.set_root_installed(true);
      return Annotate(InstallLayout(rtnl, state_.ifindex(), txqlen_, QdiscMode::kReplace),
                      Where());
    }
    FL_ASSIGN_OR_RETURN(int ifb, rtnl.CreateIfb(state_.ifb(), IfbAlias(), kQueueLen));
    state_.set_ifb_ifindex(ifb);
    FL_RETURN_IF_ERROR(Annotate(InstallLayout(rtnl, ifb, kQueueLen, QdiscMode::kCreate),
                                absl::StrCat(Where(), " (ifb ", state_.ifb(), ")")));
    if (state_.ingress_qdisc_created()) {
      absl::Status added = rtnl.AddQdisc(state_.ifindex(), kTcIngressParent, kTcIngressHandle,
                                         IngressParams{}, QdiscMode::kCreate);
      if (added.code() == absl::StatusCode::kAlreadyExists) {
        state_.set_ingress_qdisc_created(false);
      } else {
        FL_RETURN_IF_ERROR(Annotate(added, Where()));
      }
    }
    // Last: until this filter exists no packet reaches the IFB.
    U32Filter redirect;
    redirect.parent = kTcIngressFilterParent;
    redirect.prio = kIngressPrio;
    redirect.protocol = kEthPAll;
    redirect.redirect_ifindex = ifb;
    return Annotate(rtnl.AddU32Filter(state_.ifindex(), redirect), Where());
  }();
  if (applied.ok()) return absl::OkStatus();
  if (absl::Status undone = RevertHost(rtnl); !undone.ok()) {
    return absl::Status(applied.code(), absl::StrCat(applied.message(), " (undo failed: ",
                                                     undone.message(), ")"));
  }
  Registry::Get().Release(Slot(), context_.fault_id);
  return applied;
}

absl::Status TcFault::RevertEgress(Rtnetlink& rtnl) {
  FL_ASSIGN_OR_RETURN(std::vector<QdiscInfo> qdiscs, rtnl.Qdiscs(state_.ifindex()));
  const QdiscInfo* root = nullptr;
  for (const QdiscInfo& q : qdiscs) {
    if (q.parent == kTcRootParent) root = &q;
  }
  const bool ours = root != nullptr && root->handle == state_.root_handle();
  const std::string& saved = state_.saved_root_qdisc();
  if (ours && !saved.empty()) {
    // One atomic replace: the interface is never without the old root.
    return Annotate(rtnl.RecreateQdisc(state_.ifindex(), saved, QdiscMode::kReplace),
                    absl::StrCat("restore the previous root qdisc of ", state_.interface()));
  }
  if (ours) {
    absl::Status deleted = rtnl.DeleteQdisc(state_.ifindex(), kTcRootParent, state_.root_handle());
    if (!deleted.ok() && !absl::IsNotFound(deleted)) return Annotate(deleted, Where());
    return absl::OkStatus();
  }
  // Ours is gone. If Apply had replaced a saved root and the interface now
  // runs its kernel default, put the saved one back.
  if (state_.root_installed() && !saved.empty() && (root == nullptr || root->handle == 0)) {
    return Annotate(rtnl.RecreateQdisc(state_.ifindex(), saved, QdiscMode::kCreate),
                    absl::StrCat("restore the previous root qdisc of ", state_.interface()));
  }
  return absl::OkStatus();
}

absl::Status TcFault::RevertIngress(Rtnetlink& rtnl) {
  absl::Status first_error;
  auto note = [&first_error](const absl::Status& status) {
    if (!status.ok() && !absl::IsNotFound(status) && first_error.ok()) first_error = status;
  };
  if (state_.ifindex() > 0 && state_.ingress_filter_prio() != 0) {
    absl::StatusOr<std::vector<FilterInfo>> filters =
        rtnl.Filters(state_.ifindex(), kTcIngressFilterParent);
    note(filters.status());
    if (filters.ok()) {
      const uint16_t prio = static_cast<uint16_t>(state_.ingress_filter_prio());
      const bool present = std::any_of(filters->begin(), filters->end(), [&](const FilterInfo& f) {
        return f.prio == prio && f.kind == "u32";
      });
      if (present) {
        note(Annotate(rtnl.DeleteFilters(state_.ifindex(), kTcIngressFilterParent, prio, kEthPAll),
                      Where()));
      }
      if (state_.ingress_qdisc_created()) {
        absl::StatusOr<std::vector<FilterInfo>> left =
            rtnl.Filters(state_.ifindex(), kTcIngressFilterParent);
        absl::StatusOr<std::vector<QdiscInfo>> qdiscs = rtnl.Qdiscs(state_.ifindex());
        note(left.status());
        note(qdiscs.status());
        const bool plain_ingress =
            qdiscs.ok() && std::any_of(qdiscs->begin(), qdiscs->end(), [](const QdiscInfo& q) {
              return q.parent == kTcIngressParent && q.kind == "ingress";
            });
        // Someone else's filters keep the qdisc they need.
        if (left.ok() && left->empty() && plain_ingress) {
          note(Annotate(rtnl.DeleteQdisc(state_.ifindex(), kTcIngressParent, kTcIngressHandle),
                        Where()));
        }
      }
    }
  }
  if (!state_.ifb().empty()) {
    absl::StatusOr<LinkInfo> ifb = state_.ifb_ifindex() > 0 ? rtnl.LinkByIndex(state_.ifb_ifindex())
                                                           : rtnl.LinkByName(state_.ifb());
    if (ifb.ok() && ifb->name == state_.ifb() && ifb->kind == "ifb" && ifb->alias == IfbAlias()) {
      note(rtnl.DeleteLink(ifb->ifindex));
    } else if (!ifb.ok()) {
      note(ifb.status());
    }
  }
  return first_error;
}

absl::Status TcFault::RevertHost(Rtnetlink& rtnl) {
  if (state_.ifindex() <= 0 && state_.ifb().empty()) return absl::OkStatus();
  return state_.ifb().empty() ? RevertEgress(rtnl) : RevertIngress(rtnl);
}

absl::Status TcFault::Revert() {
  if (state_.ifindex() <= 0 && state_.ifb().empty()) return absl::OkStatus();
  if (netns_ != 0 && HeldByAnother()) return absl::OkStatus();
  FL_ASSIGN_OR_RETURN(Rtnetlink rtnl, Rtnetlink::Open());
  FL_RETURN_IF_ERROR(RevertHost(rtnl));
  if (netns_ != 0) Registry::Get().Release(Slot(), context_.fault_id);
  return absl::OkStatus();
}

Observation TcFault::Observe() {
  Observation out;
  absl::StatusOr<Rtnetlink> rtnl = Rtnetlink::Open();
  if (!rtnl.ok()) return out;
  const int link = state_.ifb_ifindex() > 0 ? state_.ifb_ifindex() : state_.ifindex();
  if (link <= 0) return out;
  absl::StatusOr<std::vector<QdiscInfo>> qdiscs = rtnl->Qdiscs(link);
  if (!qdiscs.ok()) return out;
  const uint32_t leaf = tree_ ? kLeafHandle : kRootHandle;
  out["qdisc_present"] = 0;
  for (const QdiscInfo& q : *qdiscs) {
    if (q.handle == leaf) {
      out["qdisc_present"] = 1;
      out["packets"] = static_cast<double>(q.stats.packets);
      out["bytes"] = static_cast<double>(q.stats.bytes);
      out["dropped"] = q.stats.drops;
      out["overlimits"] = q.stats.overlimits;
      out["backlog_bytes"] = q.stats.backlog_bytes;
      out["queued_packets"] = q.stats.qlen;
    }
    if (tree_ && q.handle == kRootHandle && q.parent == kTcRootParent) {
      out["unmatched_packets"] = q.htb_direct_packets;
    }
  }
  return out;
}

std::string TcFault::target() const {
  std::vector<std::string> parts;
  parts.push_back(state_.interface().empty()
                      ? (target_.interface().empty() ? "route" : target_.interface())
                      : state_.interface());
  parts.push_back(ingress_ ? "ingress" : "egress");
  if (!target_.destinations().empty()) {
    parts.push_back(absl::StrCat("dst ", absl::StrJoin(target_.destinations(), ",")));
  }
  if (!target_.sources().empty()) {
    parts.push_back(absl::StrCat("src ", absl::StrJoin(target_.sources(), ",")));
  }
  switch (target_.protocol()) {
    case v1::NETWORK_PROTOCOL_TCP: parts.push_back("tcp"); break;
    case v1::NETWORK_PROTOCOL_UDP: parts.push_back("udp"); break;
    case v1::NETWORK_PROTOCOL_ICMP: parts.push_back("icmp"); break;
    default: break;
  }
  if (!target_.ports().empty()) {
    parts.push_back(absl::StrCat("port ", absl::StrJoin(target_.ports(), ",")));
  }
  if (ingress_) parts.push_back(absl::StrCat("via ", TcIfbName(context_.fault_id)));
  return absl::StrJoin(parts, " ");
}

NetemParams NetemOf(const v1::FaultSpec& spec) {
  NetemParams p;
  p.limit_packets = kNetemLimitPackets;
  switch (spec.kind_case()) {
    case v1::FaultSpec::kNetworkDelay: {
      const v1::NetworkDelay& d = spec.network_delay();
      p.latency_ns = d.delay_us() * 1000;
      p.jitter_ns = d.jitter_us() * 1000;
      p.delay_correlation = KernelScale(d.correlation_pct());
      if (d.jitter_us() > 0) p.distribution = NetemDistributionTable(d.distribution());
      if (d.reorder_pct() > 0) {
        p.reorder = KernelScale(d.reorder_pct());
        // netem reorders only with a gap; 1 = any packet, with reorder_pct.
        p.gap = d.reorder_gap() > 0 ? d.reorder_gap() : 1;
      }
      break;
    }
    case v1::FaultSpec::kNetworkLoss: {
      const v1::NetworkLoss& l = spec.network_loss();
      if (l.model() == v1::LOSS_MODEL_GILBERT_ELLIOTT) {
        const v1::GilbertElliott& ge = l.gilbert_elliott();
        p.gilbert_elliott = true;
        p.ge_p = KernelScale(ge.p_pct());
        p.ge_r = KernelScale(ge.r_pct());
        p.ge_h = KernelScale(100.0 - ge.bad_loss_pct());
        p.ge_k1 = KernelScale(ge.good_loss_pct());
      } else {
        p.loss = KernelScale(l.percent());
        p.loss_correlation = KernelScale(l.correlation_pct());
      }
      break;
    }
    case v1::FaultSpec::kNetworkDuplicate:
      p.duplicate = KernelScale(spec.network_duplicate().percent());
      p.duplicate_correlation = KernelScale(spec.network_duplicate().correlation_pct());
      break;
    case v1::FaultSpec::kNetworkCorrupt:
      p.corrupt = KernelScale(spec.network_corrupt().percent());
      p.corrupt_correlation = KernelScale(spec.network_corrupt().correlation_pct());
      break;
    default:
      break;
  }
  return p;
}

}  // namespace

std::string TcIfbName(const std::string& fault_id) {
  return absl::StrFormat("%s%08x", kIfbPrefix, Fnv1a(fault_id));
}

absl::StatusOr<std::unique_ptr<Fault>> MakeTcFault(const v1::FaultSpec& spec,
                                                   const std::string& engine,
                                                   const FaultContext& context) {
  const std::string kind = KindName(spec);
  const bool bandwidth = spec.kind_case() == v1::FaultSpec::kNetworkBandwidth;
  if (spec.kind_case() == v1::FaultSpec::kNetworkPartition || !IsNetworkSpec(spec)) {
    return absl::InvalidArgumentError(absl::StrCat(kind, ": not a traffic-control kind"));
  }
  if (engine == "netem") {
    if (bandwidth) {
      return absl::InvalidArgumentError("network.bandwidth: engine netem is not used; use tbf or htb");
    }
    return std::unique_ptr<Fault>(
        std::make_unique<TcFault>(spec, engine, context, NetemOf(spec), std::nullopt));
  }
  if (engine != "tbf" && engine != "htb") {
    return absl::InvalidArgumentError(absl::StrCat(kind, ": unknown tc engine \"", engine, "\""));
  }
  if (!bandwidth) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, ": engine ", engine, " only runs network.bandwidth"));
  }
  const v1::NetworkBandwidth& b = spec.network_bandwidth();
  const uint64_t rate = b.rate_bps() / 8;
  const uint32_t burst = b.burst_bytes() != 0
                             ? Saturate32(b.burst_bytes())
                             : std::max<uint32_t>(kMinBucketBytes, Saturate32(rate / 250));
  // 100 ms at `rate`, but never under 16 full frames: at low rates a queue
  // of a handful of packets makes TCP lose and stall well below the cap.
  const uint32_t limit = b.limit_bytes() != 0 ? Saturate32(b.limit_bytes())
                                              : std::max<uint32_t>(kMinQueueBytes, Saturate32(rate / 10));
  if (engine == "tbf") {
    TbfParams tbf;
    tbf.rate_bytes_per_s = rate;
    tbf.burst_bytes = burst;
    tbf.limit_bytes = limit;
    return std::unique_ptr<Fault>(
        std::make_unique<TcFault>(spec, engine, context, tbf, std::nullopt));
  }
  HtbClassParams capped;
  capped.rate_bytes_per_s = rate;
  capped.burst_bytes = burst;
  capped.quantum_bytes = std::clamp<uint32_t>(Saturate32(rate / 10), kMinBucketBytes, kMaxQuantum);
  BfifoParams fifo;
  fifo.limit_bytes = limit;
  return std::unique_ptr<Fault>(std::make_unique<TcFault>(spec, engine, context, fifo, capped));
}

}  // namespace faultline::agent
