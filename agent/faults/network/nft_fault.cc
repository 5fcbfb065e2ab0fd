#include "agent/faults/network/nft_fault.h"

#include <net/if.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/faults/network/nft_client.h"
#include "agent/faults/network/nft_rules.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace faultline::agent {
namespace {

// Why netdev hooks: dropping in the inet `output` hook makes sendto() fail
// with EPERM, so the application sees an error instead of loss. The netdev
// egress hook sits in dev_queue_xmit, after the stack accepted the packet:
// UDP and raw senders see a successful send (unless they asked for errors
// with IP_RECVERR, which then report ENOBUFS) and TCP treats the drop like a
// congested queue and retransmits - the packet is lost on the wire. Ingress
// drops happen in the netdev ingress hook before the stack sees the packet.
constexpr const char* kFamily = "netdev";
constexpr int kPriority = 0;

class NftFault final : public Fault {
 public:
  NftFault(const v1::FaultSpec& spec, const FaultContext& context)
      : spec_(spec), context_(context), table_(NftTableName(context.fault_id)) {
    revert_.set_engine("nftables");
    revert_.set_nft_family(kFamily);
    revert_.set_nft_table(table_);
  }

  ~NftFault() override = default;

  absl::string_view kind() const override { return loss() ? "network.loss" : "network.partition"; }
  std::string engine() const override { return "nftables"; }

  absl::Status Prepare() override {
    if (applied_) return absl::OkStatus();
    std::vector<Chain> chains;
    std::string act_rule;
    if (loss()) {
      FL_ASSIGN_OR_RETURN(chains, PrepareLoss());
      const v1::NetworkLoss& loss = spec_.network_loss();
      // numgen in 1/10000 steps: 0.01% resolution.
      long threshold = std::lround(loss.percent() * 100.0);
      threshold = std::clamp(threshold, 1L, 10000L);
      act_rule = threshold >= 10000
                     ? "counter name \"matched\" counter name \"dropped\" drop"
                     : absl::StrCat("counter name \"matched\" numgen random mod 10000 < ",
                                    threshold, " counter name \"dropped\" drop");
    } else {
      FL_ASSIGN_OR_RETURN(chains, PreparePartition());
      act_rule = "counter name \"matched\" counter name \"dropped\" drop";
    }
    const v1::NetworkTarget& target = this->target_spec();
    std::vector<std::string> exempt;
    if (!target.allow_control_plane()) {
      exempt = NftExemptExpressions(context_.control_port,
                                    ParseCallerAddress(context_.caller_address),
                                    NftFamily::kNetdev);
    }
    std::string text = absl::StrCat("create table ", kFamily, " ", table_, " { comment \"faultline ",
                                     kind(), "\"; }\n");
    absl::StrAppend(&text, "add counter ", kFamily, " ", table_, " matched\n");
    absl::StrAppend(&text, "add counter ", kFamily, " ", table_, " dropped\n");
    absl::StrAppend(&text, "add chain ", kFamily, " ", table_, " act\n");
    absl::StrAppend(&text, "add rule ", kFamily, " ", table_, " act ", act_rule, "\n");
    std::vector<std::string> devices;
    std::vector<Link> links;
    for (size_t i = 0; i < chains.size(); ++i) {
      const Chain& chain = chains[i];
      FL_ASSIGN_OR_RETURN(std::string device, NftQuote(chain.device));
      std::string name = absl::StrCat(chain.egress ? "egress" : "ingress", i);
      absl::StrAppend(&text, "add chain ", kFamily, " ", table_, " ", name, " { type filter hook ",
                      chain.egress ? "egress" : "ingress", " device ", device, " priority ",
                      kPriority, "; policy accept; }\n");
      for (const std::string& body : exempt) {
        absl::StrAppend(&text, "add rule ", kFamily, " ", table_, " ", name, " ", body,
                        " accept\n");
      }
      for (const std::string& body : chain.match) {
        absl::StrAppend(&text, "add rule ", kFamily, " ", table_, " ", name, " ", body,
                        " goto act\n");
      }
      if (std::find(devices.begin(), devices.end(), chain.device) == devices.end()) {
        devices.push_back(chain.device);
        // The link as resolved now: Apply insists on this very link.
        const int ifindex = static_cast<int>(if_nametoindex(chain.device.c_str()));
        if (ifindex == 0) {
          return absl::NotFoundError(
              absl::StrCat(kind(), ": interface ", chain.device, " not found"));
        }
        links.push_back(Link{chain.device, ifindex});
      }
    }
    ruleset_ = text;
    links_ = std::move(links);
    revert_.set_interface(absl::StrJoin(devices, ","));
    revert_.set_ifindex(links_.empty() ? 0 : links_[0].ifindex);
    return absl::OkStatus();
  }

  absl::Status Apply() override {
    if (applied_) return absl::OkStatus();
    if (ruleset_.empty()) return absl::FailedPreconditionError(absl::StrCat(kind(), ": not prepared"));
    // The target may have gone since Prepare (a container stopped).
    FL_RETURN_IF_ERROR(CheckLinks());
    const std::string what = absl::StrCat("create table ", kFamily, " ", table_);
    absl::Status created = NftRun(ruleset_, what).status();
    if (absl::IsAlreadyExists(created)) {
      return absl::FailedPreconditionError(
          absl::StrCat(kind(), ": nft table ", kFamily, " ", table_, " already exists"));
    }
    if (absl::IsNotFound(created)) {
      // Older kernels refuse a netdev chain for a missing device: name it.
      FL_RETURN_IF_ERROR(CheckLinks());
    }
    FL_RETURN_IF_ERROR(Annotate(created, kind()));
    auto table = FindNftTable(kFamily, table_);
    if (!table.ok()) {
      // All-or-nothing: without the handle we cannot prove ownership later.
      (void)DeleteOwnNftTable(kFamily, table_, 0);
      return Annotate(table.status(), kind());
    }
    // Newer kernels (6.18 here) accept a netdev chain for a device that does
    // not exist and bind it to whatever link takes that name later, so a link
    // that vanished during the commit shows only now. Take the table back out.
    if (absl::Status gone = CheckLinks(); !gone.ok()) {
      auto deleted = DeleteOwnNftTable(kFamily, table_, table->handle);
      if (deleted.ok()) return gone;
      // Revert (the manager's clean-up, or recovery) retries by handle.
      revert_.set_nft_table_handle(table->handle);
      return absl::Status(gone.code(), absl::StrCat(gone.message(), "; removing table ", table_,
                                                    " failed: ", deleted.status().message()));
    }
    revert_.set_nft_table_handle(table->handle);
    applied_ = true;
    spdlog::info("nft table added id={} kind={} table={} handle={} interface={}",
                 context_.fault_id, std::string(kind()), table_, table->handle, revert_.interface());
    return absl::OkStatus();
  }

  absl::Status Revert() override {
    if (revert_.nft_table().empty()) return absl::OkStatus();
    auto deleted =
        DeleteOwnNftTable(revert_.nft_family(), revert_.nft_table(), revert_.nft_table_handle());
    if (!deleted.ok()) return Annotate(deleted.status(), kind());
    if (*deleted) {
      spdlog::info("nft table deleted id={} kind={} table={} handle={}", context_.fault_id,
                   std::string(kind()), revert_.nft_table(), revert_.nft_table_handle());
    }
    applied_ = false;
    return absl::OkStatus();
  }

  Observation Observe() override {
    Observation out;
    auto counters = NftCounterPackets(revert_.nft_family(), revert_.nft_table());
    if (!counters.ok()) return out;
    double matched = static_cast<double>((*counters)["matched"]);
    double dropped = static_cast<double>((*counters)["dropped"]);
    out["packets_matched"] = matched;
    out["packets_dropped"] = dropped;
    if (loss() && matched > 0) out["loss_pct"] = 100.0 * dropped / matched;
    return out;
  }

  v1::RevertState revert_state() const override {
    v1::RevertState state;
    *state.mutable_network() = revert_;
    return state;
  }

  void Restore(const v1::RevertState& state) override {
    revert_ = state.network();
    applied_ = false;
  }

  std::string target() const override { return target_text_; }

 private:
  struct Link {
    std::string name;
    int ifindex = 0;
  };
  struct Chain {
    std::string device;
    bool egress = true;
    std::vector<std::string> match;
  };

  bool loss() const { return spec_.has_network_loss(); }

  // NotFound naming the first link Prepare resolved that is gone.
  absl::Status CheckLinks() const {
    for (const Link& link : links_) {
      FL_RETURN_IF_ERROR(Annotate(CheckInterfaceUnchanged(link.name, link.ifindex), kind()));
    }
    return absl::OkStatus();
  }
  const v1::NetworkTarget& target_spec() const {
    return loss() ? spec_.network_loss().target() : spec_.network_partition().target();
  }

  absl::StatusOr<std::vector<Chain>> PrepareLoss() {
    auto target = ResolveNftTarget(spec_.network_loss().target());
    if (!target.ok()) return Annotate(target.status(), kind());
    auto match = NftMatchExpressions(target->filter, NftFamily::kNetdev);
    if (!match.ok()) return Annotate(match.status(), kind());
    target_text_ = target->ToString();
    return std::vector<Chain>{Chain{target->device, target->egress, *match}};
  }

  absl::StatusOr<std::vector<Chain>> PreparePartition() {
    const v1::NetworkPartition& partition = spec_.network_partition();
    FL_ASSIGN_OR_RETURN(std::vector<Cidr> peers, ParseCidrList(partition.peers(), "peers"));
    if (peers.empty()) return absl::InvalidArgumentError("network.partition: peers must not be empty");
    std::vector<std::string> devices;
    if (!partition.target().interface().empty()) {
      auto device = ResolveInterface(partition.target().interface(), peers);
      if (!device.ok()) return Annotate(device.status(), kind());
      devices.push_back(*device);
    } else {
      for (const Cidr& peer : peers) {
        auto device = RouteInterfaceName(peer);
        if (!device.ok()) return Annotate(device.status(), kind());
        if (std::find(devices.begin(), devices.end(), *device) == devices.end()) {
          devices.push_back(*device);
        }
      }
    }
    NftFilter to;
    to.destinations = peers;
    to.ports.assign(partition.ports().begin(), partition.ports().end());
    to.protocol = partition.protocol();
    NftFilter from = to;
    from.destinations.clear();
    from.sources = peers;
    const bool cut_to = partition.direction() != v1::PARTITION_DIRECTION_FROM;
    const bool cut_from = partition.direction() != v1::PARTITION_DIRECTION_TO;
    std::vector<Chain> chains;
    for (const std::string& device : devices) {
      if (cut_to) {
        auto match = NftMatchExpressions(to, NftFamily::kNetdev);
        if (!match.ok()) return Annotate(match.status(), kind());
        chains.push_back(Chain{device, true, *match});
      }
      if (cut_from) {
        auto match = NftMatchExpressions(from, NftFamily::kNetdev);
        if (!match.ok()) return Annotate(match.status(), kind());
        chains.push_back(Chain{device, false, *match});
      }
    }
    const char* direction = cut_to && cut_from ? "both" : (cut_to ? "to" : "from");
    target_text_ = absl::StrCat(absl::StrJoin(devices, ","), " ", direction, " ", CidrListText(peers));
    if (!partition.ports().empty()) {
      absl::StrAppend(&target_text_, " ports ", absl::StrJoin(partition.ports(), ","));
    }
    return chains;
  }

  v1::FaultSpec spec_;
  FaultContext context_;
  std::string table_;
  std::string ruleset_;  // the whole table, committed in one transaction
  std::string target_text_;
  std::vector<Link> links_;  // every interface the ruleset hooks, as Prepare resolved it
  v1::NetworkRevert revert_;
  bool applied_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Fault>> MakeNftFault(const v1::FaultSpec& spec,
                                                    const FaultContext& context) {
  if (context.fault_id.empty()) {
    return absl::InvalidArgumentError("nftables engine: fault id must not be empty");
  }
  if (spec.has_network_loss()) {
    const v1::NetworkLoss& loss = spec.network_loss();
    if (loss.model() != v1::LOSS_MODEL_RANDOM) {
      return absl::InvalidArgumentError(
          "network.loss: model gilbert-elliott needs engine netem, not nftables");
    }
    if (loss.correlation_pct() != 0) {
      return absl::InvalidArgumentError(
          "network.loss: correlation needs engine netem, not nftables");
    }
    if (!(loss.percent() > 0 && loss.percent() <= 100)) {
      return absl::InvalidArgumentError(
          absl::StrCat("network.loss: percent must be in (0, 100], got ", loss.percent()));
    }
  } else if (!spec.has_network_partition()) {
    return absl::InvalidArgumentError("nftables engine runs network.loss and network.partition only");
  }
  return std::unique_ptr<Fault>(new NftFault(spec, context));
}

}  // namespace faultline::agent
