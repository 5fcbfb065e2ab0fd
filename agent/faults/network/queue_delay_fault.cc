#include "agent/faults/network/queue_delay_fault.h"

#include <net/if.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/faults/network/identity.h"
#include "agent/faults/network/nft_client.h"
#include "agent/faults/network/nft_rules.h"
#include "agent/faults/network/queue_loop.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace faultline::agent {
namespace {

// The table is inet, not netdev: the kernel cannot queue from netdev hooks.
// Egress packets are queued in postrouting (after routing picked the output
// interface, for local and forwarded traffic alike), ingress packets in
// prerouting. The queue chain is a regular chain holding the NFQUEUE rule;
// the hook chain's filter rules `goto` it, so a packet is queued at most once.
constexpr const char* kQueueFamily = "inet";
constexpr const char* kQueueChain = "delay";
constexpr int kQueuePriority = 0;

DelayShape ShapeOf(v1::DelayDistribution distribution) {
  switch (distribution) {
    case v1::DELAY_DISTRIBUTION_NORMAL: return DelayShape::kNormal;
    case v1::DELAY_DISTRIBUTION_PARETO: return DelayShape::kPareto;
    case v1::DELAY_DISTRIBUTION_PARETONORMAL: return DelayShape::kParetoNormal;
    default: return DelayShape::kUniform;
  }
}

// The loops this process runs, by (namespace, queue number, table). A fault
// rebuilt from a revert state while the object that applied it still lives
// in this process (an embedded agent recovering its own state) finds the
// loop here, so its Revert can let the held packets go before the table goes
// and unbind the queue, instead of leaving the queue bound to a loop nobody
// will stop. Thread-safe.
class LoopRegistry {
 public:
  using Key = std::tuple<uint64_t, uint32_t, std::string>;

  static LoopRegistry& Get() {
    static LoopRegistry* registry = new LoopRegistry();
    return *registry;
  }

  void Add(const Key& key, const std::shared_ptr<QueueLoop>& loop) {
    std::lock_guard<std::mutex> lock(mutex_);
    loops_[key] = loop;
  }

  std::shared_ptr<QueueLoop> Find(const Key& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = loops_.find(key);
    if (it == loops_.end()) return nullptr;
    std::shared_ptr<QueueLoop> loop = it->second.lock();
    if (loop == nullptr) loops_.erase(it);
    return loop;
  }

  // True when `loop` was registered under `key` (the caller is the one to
  // report it stopped).
  bool Remove(const Key& key, const QueueLoop* loop) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = loops_.find(key);
    if (it == loops_.end()) return false;
    std::shared_ptr<QueueLoop> registered = it->second.lock();
    if (registered != nullptr && registered.get() != loop) return false;
    loops_.erase(it);
    return registered != nullptr;
  }

 private:
  std::mutex mutex_;
  std::map<Key, std::weak_ptr<QueueLoop>> loops_;
};

class QueueDelayFault final : public Fault {
 public:
  QueueDelayFault(const v1::NetworkDelay& spec, const FaultContext& context)
      : spec_(spec), context_(context), table_(NftTableName(context.fault_id)) {
    revert_.set_engine("nfqueue");
    revert_.set_nft_family(kQueueFamily);
    revert_.set_nft_table(table_);
  }

  ~QueueDelayFault() override = default;

  absl::string_view kind() const override { return "network.delay"; }
  std::string engine() const override { return "nfqueue"; }

  absl::Status Prepare() override {
    if (loop_ != nullptr) return absl::OkStatus();
    const v1::NetworkTarget& target = spec_.target();
    auto resolved = ResolveNftTarget(target);
    if (!resolved.ok()) return Annotate(resolved.status(), "network.delay");
    const bool egress = resolved->egress;
    const std::string& device = resolved->device;
    auto match = NftMatchExpressions(resolved->filter, NftFamily::kInet);
    if (!match.ok()) return Annotate(match.status(), "network.delay");
    auto quoted = NftQuote(device);
    if (!quoted.ok()) return Annotate(quoted.status(), "network.delay: interface");
    std::vector<std::string> exempt;
    if (!target.allow_control_plane()) {
      exempt = NftExemptExpressions(context_.control_port,
                                    ParseCallerAddress(context_.caller_address), NftFamily::kInet);
    }

    const std::string prefix = absl::StrCat(kQueueFamily, " ", table_);
    std::string text =
        absl::StrCat("create table ", prefix, " { comment \"faultline network.delay\"; }\n");
    absl::StrAppend(&text, "add counter ", prefix, " matched\n");
    absl::StrAppend(&text, "add chain ", prefix, " ", kQueueChain, "\n");
    absl::StrAppend(&text, "add rule ", prefix, " ", kQueueChain, " counter name \"matched\"\n");
    absl::StrAppend(&text, "add chain ", prefix, " classify { type filter hook ",
                    egress ? "postrouting" : "prerouting", " priority ", kQueuePriority,
                    "; policy accept; }\n");
    for (const std::string& body : exempt) {
      absl::StrAppend(&text, "add rule ", prefix, " classify ", body, " accept\n");
    }
    for (const std::string& body : *match) {
      absl::StrAppend(&text, "add rule ", prefix, " classify ", egress ? "oifname " : "iifname ",
                      *quoted, " ", body, " goto ", kQueueChain, "\n");
    }
    // The link as resolved now: Apply insists on this very link.
    const int ifindex = static_cast<int>(if_nametoindex(device.c_str()));
    if (ifindex == 0) {
      return absl::NotFoundError(absl::StrCat("network.delay: interface ", device, " not found"));
    }
    ruleset_ = text;
    revert_.set_interface(device);
    revert_.set_ifindex(ifindex);

    profile_.delay = std::chrono::microseconds(spec_.delay_us());
    profile_.jitter = std::chrono::microseconds(spec_.jitter_us());
    profile_.correlation = spec_.correlation_pct() / 100.0;
    profile_.shape = ShapeOf(spec_.distribution());
    target_text_ = resolved->ToString();
    return absl::OkStatus();
  }

  absl::Status Apply() override {
    if (loop_ != nullptr) return absl::OkStatus();
    if (ruleset_.empty()) return absl::FailedPreconditionError("network.delay: not prepared");
    // The target may have gone since Prepare (a container stopped).
    FL_RETURN_IF_ERROR(Annotate(CheckLink(), "network.delay"));
    // The loop listens before the rule exists, so no packet ever waits for it.
    auto loop = QueueLoop::Start(profile_);
    if (!loop.ok()) return Annotate(loop.status(), "network.delay");
    absl::Status status = Install((*loop)->queue_num());
    // An oifname/iifname rule does not need the link to exist, so a link that
    // vanished during the commit shows only now.
    if (status.ok()) status = CheckLink();
    if (!status.ok()) {
      // All-or-nothing: the table goes first, then the loop lets go.
      (void)DeleteOwnNftTable(kQueueFamily, table_, revert_.nft_table_handle()).ok();
      (*loop)->Stop();
      revert_.set_nft_table_handle(0);
      return Annotate(status, "network.delay");
    }
    loop_ = std::shared_ptr<QueueLoop>(std::move(*loop));
    revert_.set_queue_num(loop_->queue_num());
    LoopRegistry::Get().Add(LoopKey(), loop_);
    spdlog::info("nfqueue delay added id={} kind=network.delay table={} handle={} queue={} "
                 "interface={} delay_us={} jitter_us={}",
                 context_.fault_id, table_, revert_.nft_table_handle(), loop_->queue_num(),
                 revert_.interface(), spec_.delay_us(), spec_.jitter_us());
    return absl::OkStatus();
  }

  absl::Status Revert() override {
    // Deleting the table unregisters its hooks, and the kernel then drops
    // every packet still queued from them. So while a loop of this process
    // holds packets: first empty the queue chain (nothing new is queued,
    // hooks stay), then let the loop accept what it holds, then delete the
    // table.
    std::shared_ptr<QueueLoop> loop = loop_;
    if (loop == nullptr && revert_.queue_num() != 0) loop = LoopRegistry::Get().Find(LoopKey());
    if (loop != nullptr) {
      auto flushed = FlushOwnNftChain(revert_.nft_family(), revert_.nft_table(),
                                      revert_.nft_table_handle(), kQueueChain);
      if (!flushed.ok()) return Annotate(flushed.status(), "network.delay");
      loop->Stop();
      if (LoopRegistry::Get().Remove(LoopKey(), loop.get())) {
        QueueLoopStats stats = loop->stats();
        spdlog::info("nfqueue delay stopped id={} kind=network.delay queue={} packets={} "
                     "mean_hold_ms={:.3f} max_late_ms={:.3f}",
                     context_.fault_id, revert_.queue_num(), stats.released,
                     stats.mean_hold_ms, stats.max_late_ms);
      }
      loop_.reset();
    }
    if (revert_.nft_table().empty()) return absl::OkStatus();
    auto deleted = DeleteOwnNftTable(revert_.nft_family(), revert_.nft_table(),
                                     revert_.nft_table_handle());
    if (!deleted.ok()) return Annotate(deleted.status(), "network.delay");
    if (*deleted) {
      spdlog::info("nfqueue delay table deleted id={} kind=network.delay table={} handle={}",
                   context_.fault_id, revert_.nft_table(), revert_.nft_table_handle());
    }
    return absl::OkStatus();
  }

  Observation Observe() override {
    Observation out;
    if (loop_ != nullptr) {
      QueueLoopStats stats = loop_->stats();
      out["packets_delayed"] = static_cast<double>(stats.released);
      out["packets_held"] = static_cast<double>(stats.held);
      out["delay_ms_mean"] = stats.mean_hold_ms;
      out["late_ms_max"] = stats.max_late_ms;
      out["queue_overruns"] = static_cast<double>(stats.overruns);
      out["loop_cpu_ms"] = stats.cpu_ms;
    }
    auto counters = NftCounterPackets(revert_.nft_family(), revert_.nft_table());
    if (counters.ok()) {
      const double matched = static_cast<double>((*counters)["matched"]);
      out["packets_matched"] = matched;
      // Queued while the loop's queue was full (fail-open) or unbound: sent on undelayed.
      if (loop_ != nullptr) {
        out["packets_undelayed"] =
            std::max(0.0, matched - static_cast<double>(loop_->stats().received));
      }
    }
    return out;
  }

  v1::RevertState revert_state() const override {
    v1::RevertState state;
    *state.mutable_network() = revert_;
    return state;
  }

  // After a crash only the table needs deleting: the old loop died with its
  // process and the bypass flag kept traffic flowing since.
  void Restore(const v1::RevertState& state) override { revert_ = state.network(); }

  std::string target() const override { return target_text_; }

 private:
  LoopRegistry::Key LoopKey() const {
    return {CurrentNetns(), revert_.queue_num(), revert_.nft_table()};
  }

  // NotFound when the link Prepare resolved is gone.
  absl::Status CheckLink() const {
    return CheckInterfaceUnchanged(revert_.interface(), revert_.ifindex());
  }

  absl::Status Install(uint16_t queue_num) {
    FL_RETURN_IF_ERROR(NftRun(ruleset_, absl::StrCat("create table ", kQueueFamily, " ", table_)).status());
    FL_ASSIGN_OR_RETURN(NftTable table, FindNftTable(kQueueFamily, table_));
    revert_.set_nft_table_handle(table.handle);
    return AppendNfqueueRule(kQueueFamily, table_, kQueueChain, queue_num, /*bypass=*/true);
  }

  v1::NetworkDelay spec_;
  FaultContext context_;
  std::string table_;
  std::string ruleset_;
  std::string target_text_;
  DelayProfile profile_;
  v1::NetworkRevert revert_;
  // Shared with LoopRegistry (weakly) so a recovering object can stop it.
  std::shared_ptr<QueueLoop> loop_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Fault>> MakeQueueDelayFault(const v1::FaultSpec& spec,
                                                           const FaultContext& context) {
  if (!spec.has_network_delay()) {
    return absl::InvalidArgumentError("nfqueue engine runs network.delay only");
  }
  if (context.fault_id.empty()) {
    return absl::InvalidArgumentError("nfqueue engine: fault id must not be empty");
  }
  const v1::NetworkDelay& delay = spec.network_delay();
  if (delay.reorder_pct() != 0 || delay.reorder_gap() != 0) {
    return absl::InvalidArgumentError("network.delay: reorder needs engine netem, not nfqueue");
  }
  if (delay.jitter_us() > delay.delay_us()) {
    return absl::InvalidArgumentError("network.delay: jitter must not exceed delay");
  }
  return std::unique_ptr<Fault>(new QueueDelayFault(delay, context));
}

}  // namespace faultline::agent
