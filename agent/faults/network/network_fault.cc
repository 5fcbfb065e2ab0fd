#include "agent/faults/network/network_fault.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/faults/network/nft_fault.h"
#include "agent/faults/network/queue_delay_fault.h"
#include "agent/faults/network/tc_fault.h"
#include "common/network_limits.h"
#include "common/status.h"

namespace faultline::agent {

const v1::NetworkTarget& NetworkTargetOf(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kNetworkDelay: return spec.network_delay().target();
    case v1::FaultSpec::kNetworkLoss: return spec.network_loss().target();
    case v1::FaultSpec::kNetworkDuplicate: return spec.network_duplicate().target();
    case v1::FaultSpec::kNetworkCorrupt: return spec.network_corrupt().target();
    case v1::FaultSpec::kNetworkBandwidth: return spec.network_bandwidth().target();
    case v1::FaultSpec::kNetworkPartition: return spec.network_partition().target();
    default: return v1::NetworkTarget::default_instance();
  }
}

namespace {

// Collects every problem of one spec; Status() joins them.
class Problems {
 public:
  explicit Problems(std::string kind) : kind_(std::move(kind)) {}
  void Add(std::string message) { messages_.push_back(std::move(message)); }
  const std::string& kind() const { return kind_; }
  absl::Status Status() const {
    if (messages_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(kind_, ": ", absl::StrJoin(messages_, "; ")));
  }

 private:
  std::string kind_;
  std::vector<std::string> messages_;
};

bool IsPercent(double value, bool min_exclusive) {
  return std::isfinite(value) && (min_exclusive ? value > 0 : value >= 0) && value <= 100;
}

void CheckPercent(Problems& p, absl::string_view field, double value, bool min_exclusive) {
  if (IsPercent(value, min_exclusive)) return;
  p.Add(absl::StrCat(field, " must be ", min_exclusive ? "greater than 0 and at most 100" : "0..100",
                     ", got ", value));
}

void CheckInterface(Problems& p, const std::string& name) {
  // Empty: the interface of the route to the first destination.
  if (!name.empty() && !IsInterfaceName(name)) {
    p.Add(absl::StrCat("target.interface must be an interface name of 1..", kMaxInterfaceName,
                       " characters without \"/\", \":\" or spaces, got \"",
                       absl::CHexEscape(name), "\""));
  }
}

// Parses a CIDR list; returns the families present (AF_INET / AF_INET6).
std::set<int> CheckCidrs(Problems& p, absl::string_view field,
                         const google::protobuf::RepeatedPtrField<std::string>& cidrs) {
  std::set<int> families;
  if (cidrs.size() > kMaxAddresses) {
    p.Add(absl::StrCat(field, " lists ", cidrs.size(), " entries; at most ", kMaxAddresses));
    return families;
  }
  std::set<std::string> seen;
  for (int i = 0; i < cidrs.size(); ++i) {
    absl::StatusOr<IpPrefix> cidr = ParseIpPrefix(cidrs[i]);
    if (!cidr.ok()) {
      p.Add(absl::StrCat(field, "[", i, "] ", cidr.status().message()));
      continue;
    }
    if (!seen.insert(FormatIpPrefix(*cidr)).second) {
      p.Add(absl::StrCat(field, " lists ", FormatIpPrefix(*cidr), " more than once"));
      continue;
    }
    families.insert(cidr->family);
  }
  return families;
}

void CheckPorts(Problems& p, absl::string_view field,
                const google::protobuf::RepeatedField<uint32_t>& ports,
                v1::NetworkProtocol protocol) {
  if (ports.size() > kMaxPorts) {
    p.Add(absl::StrCat(field, " lists ", ports.size(), " ports; at most ", kMaxPorts));
    return;
  }
  std::set<uint32_t> seen;
  for (int i = 0; i < ports.size(); ++i) {
    if (ports[i] < 1 || ports[i] > 65535) {
      p.Add(absl::StrCat(field, "[", i, "] must be a port 1..65535, got ", ports[i]));
    } else if (!seen.insert(ports[i]).second) {
      p.Add(absl::StrCat(field, " lists port ", ports[i], " more than once"));
    }
  }
  if (!ports.empty() && protocol == v1::NETWORK_PROTOCOL_ICMP) {
    p.Add(absl::StrCat(field, " need protocol tcp, udp or any; icmp has no ports"));
  }
}

bool ValidProtocol(int protocol) { return v1::NetworkProtocol_IsValid(protocol); }

// Which engines may run each kind, preferred first (common/network_limits.h).
const std::vector<std::string>& EnginesOfKind(v1::FaultSpec::KindCase kind) {
  static const auto* none = new std::vector<std::string>();
  const NetworkKind* network = FindNetworkKind(kind);
  return network != nullptr ? network->engines : *none;
}

// Checks the NetworkTarget of delay/loss/duplicate/corrupt/bandwidth.
void CheckTarget(Problems& p, const v1::NetworkTarget& target, v1::FaultSpec::KindCase kind) {
  CheckInterface(p, target.interface());
  if (!v1::NetworkDirection_IsValid(target.direction())) {
    p.Add(absl::StrCat("target.direction must be egress or ingress, got ", target.direction()));
  }
  const std::set<int> dst = CheckCidrs(p, "target.destinations", target.destinations());
  const std::set<int> src = CheckCidrs(p, "target.sources", target.sources());
  if (!ValidProtocol(target.protocol())) {
    p.Add(absl::StrCat("target.protocol must be any, tcp, udp or icmp, got ", target.protocol()));
  } else {
    CheckPorts(p, "target.ports", target.ports(), target.protocol());
  }
  if (!dst.empty() && !src.empty()) {
    bool shared = false;
    for (int family : dst) shared |= src.count(family) > 0;
    if (!shared) {
      p.Add("target.destinations and target.sources share no address family (IPv4 and IPv6 "
            "cannot match the same packet)");
    }
  }
  const int rules = FilterRuleCount(target);
  if (rules > kMaxFilterRules) {
    p.Add(absl::StrCat("the filters expand to ", rules,
                       " classifier rules (destinations x sources x ports x protocols); at most ",
                       kMaxFilterRules));
  }
  const bool ingress = target.direction() == v1::NETWORK_DIRECTION_INGRESS;
  if (target.interface().empty() && target.destinations().empty() &&
      !(ingress && !target.sources().empty())) {
    p.Add("target.interface is required when target.destinations is empty (without it, the "
          "interface of the route to the first destination is used)");
  }
  const std::string& engine = target.engine();
  if (!engine.empty()) {
    const std::vector<std::string>& engines = EnginesOfKind(kind);
    if (std::find(engines.begin(), engines.end(), engine) == engines.end()) {
      p.Add(absl::StrCat("target.engine \"", absl::CHexEscape(engine), "\" cannot run ", p.kind(),
                         "; use ", absl::StrJoin(engines, " or "), " or leave it empty"));
    }
  }
}

void CheckDelay(Problems& p, const v1::NetworkDelay& d) {
  CheckTarget(p, d.target(), v1::FaultSpec::kNetworkDelay);
  if (d.delay_us() < kMinDelayUs || d.delay_us() > kMaxDelayUs) {
    p.Add(absl::StrCat("delay_us must be 1..", kMaxDelayUs, " (60s), got ", d.delay_us()));
  }
  if (d.jitter_us() > d.delay_us()) {
    p.Add(absl::StrCat("jitter_us (", d.jitter_us(), ") must not exceed delay_us (", d.delay_us(),
                       ")"));
  }
  CheckPercent(p, "correlation_pct", d.correlation_pct(), false);
  if (!v1::DelayDistribution_IsValid(d.distribution())) {
    p.Add(absl::StrCat("distribution must be uniform, normal, pareto or paretonormal, got ",
                       d.distribution()));
  } else if (d.distribution() != v1::DELAY_DISTRIBUTION_UNSPECIFIED && d.jitter_us() == 0) {
    p.Add("distribution needs jitter_us > 0 (the spread the distribution shapes)");
  }
  CheckPercent(p, "reorder_pct", d.reorder_pct(), false);
  if (d.reorder_gap() > kMaxReorderGap) {
    p.Add(absl::StrCat("reorder_gap must be 0..", kMaxReorderGap, ", got ", d.reorder_gap()));
  }
  if (d.reorder_gap() > 0 && !(d.reorder_pct() > 0)) {
    p.Add("reorder_gap needs reorder_pct > 0");
  }
  if (d.reorder_pct() > 0 && d.target().engine() == "nfqueue") {
    p.Add("reorder needs engine netem, not nfqueue");
  }
}

void CheckLoss(Problems& p, const v1::NetworkLoss& l) {
  CheckTarget(p, l.target(), v1::FaultSpec::kNetworkLoss);
  CheckPercent(p, "correlation_pct", l.correlation_pct(), false);
  if (!v1::LossModel_IsValid(l.model())) {
    p.Add(absl::StrCat("model must be random or gilbert-elliott, got ", l.model()));
    return;
  }
  if (l.model() == v1::LOSS_MODEL_RANDOM) {
    CheckPercent(p, "percent", l.percent(), true);
    if (l.has_gilbert_elliott()) {
      p.Add("gilbert_elliott is set but model is random; set model gilbert-elliott or remove it");
    }
    return;
  }
  if (l.percent() != 0 || l.correlation_pct() != 0) {
    p.Add("percent and correlation_pct cannot be used with model gilbert-elliott (its loss comes "
          "from p, r, bad_loss and good_loss)");
  }
  if (!l.has_gilbert_elliott()) {
    p.Add("model gilbert-elliott needs gilbert_elliott (p_pct, r_pct, bad_loss_pct, "
          "good_loss_pct)");
    return;
  }
  const v1::GilbertElliott& ge = l.gilbert_elliott();
  CheckPercent(p, "gilbert_elliott.p_pct", ge.p_pct(), false);
  CheckPercent(p, "gilbert_elliott.r_pct", ge.r_pct(), false);
  CheckPercent(p, "gilbert_elliott.bad_loss_pct", ge.bad_loss_pct(), false);
  CheckPercent(p, "gilbert_elliott.good_loss_pct", ge.good_loss_pct(), false);
  const bool bad_state_reachable = ge.p_pct() > 0;
  if (!(ge.good_loss_pct() > 0) && !(bad_state_reachable && ge.bad_loss_pct() > 0)) {
    p.Add("gilbert_elliott drops nothing: give good_loss_pct > 0, or p_pct > 0 with "
          "bad_loss_pct > 0");
  }
  if (l.target().engine() == "nftables") p.Add("model gilbert-elliott needs engine netem");
}

template <typename Message>
void CheckPercentKind(Problems& p, const Message& m, v1::FaultSpec::KindCase kind) {
  CheckTarget(p, m.target(), kind);
  CheckPercent(p, "percent", m.percent(), true);
  CheckPercent(p, "correlation_pct", m.correlation_pct(), false);
}

void CheckBandwidth(Problems& p, const v1::NetworkBandwidth& b) {
  CheckTarget(p, b.target(), v1::FaultSpec::kNetworkBandwidth);
  if (b.rate_bps() < kMinRateBps || b.rate_bps() > kMaxRateBps) {
    p.Add(absl::StrCat("rate_bps must be 8000..100000000000 (8kbit..100gbit), got ",
                       b.rate_bps()));
  }
  for (const auto& [field, value] :
       {std::pair{"burst_bytes", b.burst_bytes()}, std::pair{"limit_bytes", b.limit_bytes()}}) {
    if (value != 0 && (value < kMinBucketBytes || value > kMaxBucketBytes)) {
      p.Add(absl::StrCat(field, " must be 0 (default) or ", kMinBucketBytes,
                         "..1073741824 (one full packet .. 1 GiB), got ", value));
    }
  }
  if (b.target().engine() == "tbf" && IsFilteredTarget(b.target())) {
    p.Add("target.engine tbf shapes the whole interface and cannot filter by destinations, "
          "sources, ports or protocol; use engine htb or remove the filters");
  }
}

void CheckPartition(Problems& p, const v1::NetworkPartition& part) {
  const v1::NetworkTarget& target = part.target();
  CheckInterface(p, target.interface());
  if (!target.destinations().empty() || !target.sources().empty() || !target.ports().empty() ||
      target.protocol() != v1::NETWORK_PROTOCOL_ANY) {
    p.Add("target.destinations, target.sources, target.ports and target.protocol must be empty "
          "in a partition; list the hosts to cut off in peers and use the partition's own ports, "
          "protocol and direction");
  }
  if (!target.engine().empty() && target.engine() != "nftables") {
    p.Add(absl::StrCat("target.engine \"", absl::CHexEscape(target.engine()),
                       "\" cannot run network.partition; use nftables or leave it empty"));
  }
  if (part.peers().empty()) p.Add("peers must list at least one address or CIDR");
  CheckCidrs(p, "peers", part.peers());
  if (!v1::PartitionDirection_IsValid(part.direction())) {
    p.Add(absl::StrCat("direction must be both, to or from, got ", part.direction()));
  }
  if (!ValidProtocol(part.protocol())) {
    p.Add(absl::StrCat("protocol must be any, tcp, udp or icmp, got ", part.protocol()));
  } else {
    CheckPorts(p, "ports", part.ports(), part.protocol());
  }
}

// The part of support.missing about `feature` ("kernel has no sch_netem
// (...)"), or `fallback`.
std::string MissingReason(const NetworkSupport& support, absl::string_view feature,
                          absl::string_view fallback) {
  for (absl::string_view part : absl::StrSplit(support.missing, "; ")) {
    if (absl::ConsumePrefix(&part, feature) && absl::ConsumePrefix(&part, ": ")) {
      return std::string(part);
    }
  }
  return std::string(fallback);
}

// "" when `engine` can run `spec` with `support`, else why not.
std::string WhyNot(const std::string& engine, const v1::FaultSpec& spec,
                   const NetworkSupport& support) {
  const v1::NetworkTarget& target = NetworkTargetOf(spec);
  const bool tc = engine == "netem" || engine == "tbf" || engine == "htb";
  if (engine == "netem" && !support.netem) {
    return MissingReason(support, "netem", "kernel has no sch_netem");
  }
  if (engine == "tbf") {
    if (!support.tbf) return MissingReason(support, "tbf", "kernel has no sch_tbf");
    if (IsFilteredTarget(target)) return "tbf shapes the whole interface and cannot filter";
  }
  if (tc && (engine == "htb" || IsFilteredTarget(target))) {
    if (!support.htb) return MissingReason(support, "htb", "kernel has no sch_htb");
    if (!support.u32) return MissingReason(support, "u32", "kernel has no cls_u32");
  }
  if (tc && target.direction() == v1::NETWORK_DIRECTION_INGRESS && !support.ifb) {
    return absl::StrCat("ingress needs an ifb link with ingress qdisc and mirred: ",
                        MissingReason(support, "ifb", "not supported"));
  }
  if (engine == "nftables" && !support.nftables) {
    return MissingReason(support, "nftables", "kernel has no nf_tables with numgen");
  }
  if (engine == "nfqueue" && !support.nfqueue) {
    return MissingReason(support, "nfqueue", "kernel has no NFQUEUE target");
  }
  if (engine == "nfqueue") {
    const v1::NetworkDelay& d = spec.network_delay();
    if (d.reorder_pct() > 0) return "reorder needs netem";
    if (d.correlation_pct() > 0) return "delay correlation needs netem";
  }
  if (engine == "nftables" && spec.kind_case() == v1::FaultSpec::kNetworkLoss) {
    const v1::NetworkLoss& l = spec.network_loss();
    if (l.model() == v1::LOSS_MODEL_GILBERT_ELLIOTT) return "model gilbert-elliott needs netem";
    if (l.correlation_pct() > 0) return "loss correlation needs netem";
  }
  return "";
}

// Engines to try for `spec`, preferred first.
std::vector<std::string> Candidates(const v1::FaultSpec& spec) {
  const v1::NetworkTarget& target = NetworkTargetOf(spec);
  if (!target.engine().empty()) return {target.engine()};
  if (spec.kind_case() == v1::FaultSpec::kNetworkBandwidth && IsFilteredTarget(target)) {
    return {"htb"};
  }
  return EnginesOfKind(spec.kind_case());
}

// Runs `spec` through the engine it chose: built eagerly when the host has
// an engine for it, and rebuilt from the revert state's engine on Restore,
// so crash recovery never depends on what this start detected.
class NetworkFault final : public Fault {
 public:
  NetworkFault(v1::FaultSpec spec, FaultContext context, absl::StatusOr<std::string> engine)
      : spec_(std::move(spec)), context_(std::move(context)), choice_(std::move(engine)) {}

  absl::Status Init() {
    if (!choice_.ok()) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<Fault>> inner = MakeEngineFault(*choice_);
    if (!inner.ok()) return inner.status();
    inner_ = std::move(*inner);
    return absl::OkStatus();
  }

  absl::string_view kind() const override { return kind_; }
  std::string engine() const override {
    if (inner_ != nullptr) return inner_->engine();
    return choice_.ok() ? *choice_ : "";
  }
  absl::Status Prepare() override {
    if (inner_ == nullptr) return choice_.ok() ? absl::InternalError("no engine") : choice_.status();
    return inner_->Prepare();
  }
  absl::Status Apply() override {
    if (inner_ == nullptr) return Prepare();
    return inner_->Apply();
  }
  absl::Status Revert() override {
    // Without an engine nothing was ever applied.
    return inner_ == nullptr ? absl::OkStatus() : inner_->Revert();
  }
  Observation Observe() override { return inner_ == nullptr ? Observation{} : inner_->Observe(); }
  v1::RevertState revert_state() const override {
    return inner_ == nullptr ? v1::RevertState() : inner_->revert_state();
  }
  void Restore(const v1::RevertState& state) override {
    const std::string& recorded = state.network().engine();
    if (!recorded.empty() && (inner_ == nullptr || inner_->engine() != recorded)) {
      absl::StatusOr<std::unique_ptr<Fault>> inner = MakeEngineFault(recorded);
      if (inner.ok()) inner_ = std::move(*inner);
    }
    if (inner_ != nullptr) inner_->Restore(state);
  }
  std::string target() const override {
    if (inner_ != nullptr) return inner_->target();
    const v1::NetworkTarget& t = NetworkTargetOf(spec_);
    return t.interface().empty() ? "route to first destination" : t.interface();
  }

 private:
  absl::StatusOr<std::unique_ptr<Fault>> MakeEngineFault(const std::string& engine) const {
    if (engine == "netem" || engine == "tbf" || engine == "htb") {
      return MakeTcFault(spec_, engine, context_);
    }
    if (engine == "nftables") return MakeNftFault(spec_, context_);
    if (engine == "nfqueue") return MakeQueueDelayFault(spec_, context_);
    return absl::InvalidArgumentError(absl::StrCat(kind_, ": unknown engine \"", engine, "\""));
  }

  const v1::FaultSpec spec_;
  const FaultContext context_;
  const std::string kind_ = KindName(spec_);
  const absl::StatusOr<std::string> choice_;
  std::unique_ptr<Fault> inner_;
};

}  // namespace

bool IsNetworkSpec(const v1::FaultSpec& spec) {
  return FindNetworkKind(spec.kind_case()) != nullptr;
}

absl::Status ValidateNetworkSpec(const v1::FaultSpec& spec) {
  if (!IsNetworkSpec(spec)) {
    return absl::InvalidArgumentError("fault spec names no network fault kind");
  }
  Problems p(KindName(spec));
  switch (spec.kind_case()) {
    case v1::FaultSpec::kNetworkDelay: CheckDelay(p, spec.network_delay()); break;
    case v1::FaultSpec::kNetworkLoss: CheckLoss(p, spec.network_loss()); break;
    case v1::FaultSpec::kNetworkDuplicate:
      CheckPercentKind(p, spec.network_duplicate(), spec.kind_case());
      break;
    case v1::FaultSpec::kNetworkCorrupt:
      CheckPercentKind(p, spec.network_corrupt(), spec.kind_case());
      break;
    case v1::FaultSpec::kNetworkBandwidth: CheckBandwidth(p, spec.network_bandwidth()); break;
    case v1::FaultSpec::kNetworkPartition: CheckPartition(p, spec.network_partition()); break;
    default: break;
  }
  return p.Status();
}

absl::StatusOr<std::string> ChooseNetworkEngine(const v1::FaultSpec& spec,
                                                const NetworkSupport& support) {
  const std::string kind = KindName(spec);
  if (!IsNetworkSpec(spec)) {
    return absl::InvalidArgumentError("fault spec names no network fault kind");
  }
  const std::string& pinned = NetworkTargetOf(spec).engine();
  if (!support.detected) {
    return absl::FailedPreconditionError(absl::StrCat(
        kind, ": the network engines of this host were not detected (agent built without "
              "DetectNetworkSupport)"));
  }
  std::vector<std::string> reasons;
  for (const std::string& engine : Candidates(spec)) {
    const std::string why = WhyNot(engine, spec, support);
    if (why.empty()) return engine;
    reasons.push_back(absl::StrCat(engine, ": ", why));
  }
  if (!pinned.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kind, ": engine \"", pinned, "\" is not available on this host: ",
                     WhyNot(pinned, spec, support)));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      kind, ": no engine on this host can run this spec (", absl::StrJoin(reasons, "; "), ")"));
}

absl::StatusOr<std::unique_ptr<Fault>> MakeNetworkFault(const v1::FaultSpec& spec,
                                                        const FaultContext& context) {
  FL_RETURN_IF_ERROR(ValidateNetworkSpec(spec));
  auto fault =
      std::make_unique<NetworkFault>(spec, context, ChooseNetworkEngine(spec, context.network));
  FL_RETURN_IF_ERROR(fault->Init());
  return fault;
}

std::vector<v1::KindCapability> NetworkCapabilities(const NetworkSupport& support) {
  // What each fallback cannot do, so people know before they pin or write
  // netem-only parameters.
  auto limits = [](const std::string& engine, v1::FaultSpec::KindCase kind) -> std::string {
    if (engine == "nfqueue") return "the nfqueue fallback has no reorder or delay correlation";
    if (engine == "nftables" && kind == v1::FaultSpec::kNetworkLoss) {
      return "the nftables fallback has no loss correlation or gilbert-elliott model";
    }
    return "";
  };
  std::vector<v1::KindCapability> out;
  for (const NetworkKind& entry : NetworkKinds()) {
    v1::KindCapability capability;
    capability.set_kind(entry.name);
    // The plainest spec of the kind: egress, no filters.
    v1::FaultSpec probe;
    switch (entry.kind_case) {
      case v1::FaultSpec::kNetworkDelay: probe.mutable_network_delay(); break;
      case v1::FaultSpec::kNetworkLoss: probe.mutable_network_loss(); break;
      case v1::FaultSpec::kNetworkDuplicate: probe.mutable_network_duplicate(); break;
      case v1::FaultSpec::kNetworkCorrupt: probe.mutable_network_corrupt(); break;
      case v1::FaultSpec::kNetworkBandwidth: probe.mutable_network_bandwidth(); break;
      default: probe.mutable_network_partition(); break;
    }
    std::vector<std::string> missing;
    for (const std::string& engine : entry.engines) {
      const std::string why =
          support.detected ? WhyNot(engine, probe, support) : "network engines not detected";
      if (why.empty()) {
        capability.add_engines(engine);
      } else {
        missing.push_back(absl::StrCat(engine, ": ", why));
      }
    }
    capability.set_available(capability.engines_size() > 0);
    if (!missing.empty()) {
      std::string reason = absl::StrJoin(missing, "; ");
      if (capability.available()) {
        const std::string limit = limits(capability.engines(0), entry.kind_case);
        if (!limit.empty()) absl::StrAppend(&reason, "; ", limit);
      }
      capability.set_reason(reason);
    }
    out.push_back(std::move(capability));
  }
  return out;
}

}  // namespace faultline::agent
