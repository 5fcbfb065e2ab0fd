#include "agent/faults/memory_pressure.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "agent/faults/stressor_fault.h"
#include "agent/host/process.h"
#include "agent/host/sysinfo.h"
#include "common/status.h"
#include "common/units.h"

namespace faultline::agent {
namespace {

constexpr uint64_t kMaxRampMs = 3'600'000;  // 1h
constexpr uint64_t kMiB = 1024 * 1024;

class MemoryPressureFault final : public StressorFault {
 public:
  MemoryPressureFault(const v1::MemoryPressure& spec, FaultContext context)
      : StressorFault(std::move(context)), spec_(spec) {}

  absl::string_view kind() const override { return "memory.pressure"; }

  Observation Observe() override {
    Observation out;
    if (!stressor()) return out;
    out["target_bytes"] = static_cast<double>(target_bytes_);
    auto info = ReadProcess(stressor()->pid);
    const bool alive = info.ok() && info->start_time == stressor()->start_time;
    out["rss_bytes"] = alive ? static_cast<double>(info->rss_bytes) : 0.0;
    return out;
  }

  std::string target() const override {
    std::string out = spec_.size_bytes() > 0
                          ? absl::StrCat(FormatBytes(spec_.size_bytes()), " resident")
                          : absl::StrCat(spec_.percent(), "% of memory resident");
    if (spec_.ramp_ms() > 0) {
      absl::StrAppend(&out, " after a ",
                      FormatDuration(std::chrono::milliseconds(spec_.ramp_ms())), " ramp");
    }
    return out;
  }

 protected:
  std::optional<CgroupHierarchy> ChooseHierarchy(const CgroupLayout& layout) const override {
    return layout.For("memory");
  }
  std::vector<std::string> V2Controllers() const override { return {"memory"}; }

  // The reserve is checked against MemAvailable now, before anything is
  // allocated: once the stressor holds the memory, the OOM killer (which
  // prefers the stressor via oom_score_adj) is the only brake left.
  absl::Status PrepareKind() override {
    FL_ASSIGN_OR_RETURN(MemInfo mem, ReadMemInfo());
    target_bytes_ = spec_.size_bytes() > 0
                        ? spec_.size_bytes()
                        : static_cast<uint64_t>(static_cast<double>(mem.total_bytes) *
                                                spec_.percent() / 100.0);
    const double reserve_pct = context().memory_reserve_pct;
    const uint64_t reserve_bytes =
        static_cast<uint64_t>(static_cast<double>(mem.total_bytes) * reserve_pct / 100.0);
    if (target_bytes_ > mem.available_bytes || mem.available_bytes - target_bytes_ < reserve_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "memory.pressure: ", target_bytes_ / kMiB, " MiB requested but only ",
          mem.available_bytes / kMiB, " MiB available; ", reserve_bytes / kMiB, " MiB (",
          reserve_pct, "% of ", mem.total_bytes / kMiB, " MiB total) must stay available"));
    }
    return absl::OkStatus();
  }

  std::vector<std::string> StressorArgs() const override {
    return {"memory", "--bytes", absl::StrCat(target_bytes_), "--ramp-ms",
            absl::StrCat(spec_.ramp_ms())};
  }

 private:
  v1::MemoryPressure spec_;
  uint64_t target_bytes_ = 0;  // resolved by Prepare
};

}  // namespace

absl::Status ValidateMemoryPressure(const v1::MemoryPressure& spec) {
  const bool has_size = spec.size_bytes() > 0;
  const bool has_percent = spec.percent() != 0;
  if (has_size && has_percent) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory.pressure: set only one of size_bytes or percent, got size_bytes=",
        spec.size_bytes(), " and percent=", spec.percent()));
  }
  if (!has_size && !has_percent) {
    return absl::InvalidArgumentError("memory.pressure: one of size_bytes or percent must be set");
  }
  if (has_percent && !(spec.percent() > 0 && spec.percent() <= 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory.pressure: percent must be in (0, 100], got ", spec.percent()));
  }
  if (spec.ramp_ms() > kMaxRampMs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory.pressure: ramp_ms must be at most ", kMaxRampMs, " (1h), got ", spec.ramp_ms()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Fault>> MakeMemoryPressureFault(const v1::MemoryPressure& spec,
                                                               const FaultContext& context) {
  FL_RETURN_IF_ERROR(ValidateMemoryPressure(spec));
  return std::unique_ptr<Fault>(new MemoryPressureFault(spec, context));
}

}  // namespace faultline::agent
