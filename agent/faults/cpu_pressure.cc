#include "agent/faults/cpu_pressure.h"

#include <chrono>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/faults/stressor_fault.h"
#include "agent/host/process.h"
#include "agent/host/sysinfo.h"
#include "common/status.h"

namespace faultline::agent {
namespace {

constexpr uint32_t kMaxWorkers = 1024;
constexpr uint32_t kMaxCore = 4096;  // exclusive

class CpuPressureFault final : public StressorFault {
 public:
  CpuPressureFault(const v1::CpuPressure& spec, FaultContext context)
      : StressorFault(std::move(context)), spec_(spec) {}

  absl::string_view kind() const override { return "cpu.pressure"; }

  // cpu_load_pct: achieved load per worker since Apply (what a journal
  // reader wants; stable). cpu_load_pct_recent: since the previous Observe,
  // reported only over a window of at least one second, because the duty
  // cycle runs in 100 ms periods and shorter windows read as noise.
  Observation Observe() override {
    Observation out;
    if (!stressor()) return out;
    out["workers"] = workers_;
    auto sample = Sample();
    if (!sample || workers_ == 0) return out;
    auto load = [&](const CpuSample& from) -> std::optional<double> {
      const double wall_ns = std::chrono::duration<double, std::nano>(sample->at - from.at).count();
      if (wall_ns <= 0 || sample->cpu_ns < from.cpu_ns) return std::nullopt;
      return 100.0 * static_cast<double>(sample->cpu_ns - from.cpu_ns) / wall_ns / workers_;
    };
    if (first_) {
      if (auto pct = load(*first_)) out["cpu_load_pct"] = *pct;
    }
    if (last_ && sample->at - last_->at >= std::chrono::seconds(1)) {
      if (auto pct = load(*last_)) out["cpu_load_pct_recent"] = *pct;
    }
    last_ = sample;
    return out;
  }

  std::string target() const override {
    // Before Prepare resolves "0 workers", say what it will mean.
    const uint32_t n = workers_ == 0 ? spec_.workers() : workers_;
    std::string out = n == 0 ? absl::StrCat("one worker per core at ", spec_.load_pct(), "%")
                             : absl::StrCat(n, n == 1 ? " worker" : " workers", " at ",
                                            spec_.load_pct(), "%");
    if (spec_.cores_size() > 0) {
      absl::StrAppend(&out, spec_.cores_size() == 1 ? " on core " : " on cores ",
                      absl::StrJoin(spec_.cores(), ","));
    }
    return out;
  }

 protected:
  // Pure v2 hosts account CPU in every cgroup (cpu.stat); hybrid and v1
  // hosts do it in cpuacct. The cpu controller itself is avoided: see the
  // header.
  std::optional<CgroupHierarchy> ChooseHierarchy(const CgroupLayout& layout) const override {
    if (auto h = layout.For("cpu"); h && h->version == 2) return h;
    return layout.For("cpuacct");
  }
  std::vector<std::string> V2Controllers() const override { return {}; }

  absl::Status PrepareKind() override {
    FL_ASSIGN_OR_RETURN(OnlineCpus online, ReadOnlineCpus());
    for (uint32_t core : spec_.cores()) {
      if (online.cpus.count(static_cast<int>(core)) == 0) {
        return absl::InvalidArgumentError(absl::StrCat("cpu.pressure: core ", core,
                                                       " is not online (online: ", online.text, ")"));
      }
    }
    if (spec_.workers() > 0) {
      workers_ = spec_.workers();
    } else if (spec_.cores_size() > 0) {
      workers_ = static_cast<uint32_t>(spec_.cores_size());
    } else {
      workers_ = static_cast<uint32_t>(online.cpus.size());
    }
    return absl::OkStatus();
  }

  std::vector<std::string> StressorArgs() const override {
    std::vector<std::string> args = {"cpu", "--load", absl::StrCat(spec_.load_pct()), "--workers",
                                     absl::StrCat(workers_)};
    if (spec_.cores_size() > 0) {
      args.push_back("--cores");
      args.push_back(absl::StrJoin(spec_.cores(), ","));
    }
    return args;
  }

  void OnStarted() override { first_ = last_ = Sample(); }

 private:
  struct CpuSample {
    std::chrono::steady_clock::time_point at;
    uint64_t cpu_ns = 0;
  };

  // cpuacct.usage has nanosecond resolution; /proc/PID/stat counts clock
  // ticks (10 ms), which is coarse for short Observe intervals.
  std::optional<CpuSample> Sample() const {
    CpuSample s;
    s.at = std::chrono::steady_clock::now();
    if (!cgroup_path().empty()) {
      auto ns = CgroupCpuUsageNs(cgroup_path());
      if (ns.ok()) {
        s.cpu_ns = *ns;
        return s;
      }
    }
    auto info = ReadProcess(stressor()->pid);
    if (!info.ok() || info->start_time != stressor()->start_time) return std::nullopt;
    s.cpu_ns = info->cpu_ticks * (1'000'000'000ULL / static_cast<uint64_t>(ClockTicksPerSecond()));
    return s;
  }

  v1::CpuPressure spec_;
  uint32_t workers_ = 0;  // resolved by Prepare
  std::optional<CpuSample> first_;  // at Apply; unset after Restore
  std::optional<CpuSample> last_;
};

}  // namespace

absl::Status ValidateCpuPressure(const v1::CpuPressure& spec) {
  if (spec.load_pct() < 1 || spec.load_pct() > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu.pressure: load_pct must be 1..100, got ", spec.load_pct()));
  }
  if (spec.workers() > kMaxWorkers) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu.pressure: workers must be 0..", kMaxWorkers, ", got ", spec.workers()));
  }
  std::set<uint32_t> seen;
  for (uint32_t core : spec.cores()) {
    if (core >= kMaxCore) {
      return absl::InvalidArgumentError(
          absl::StrCat("cpu.pressure: cores must each be < ", kMaxCore, ", got ", core));
    }
    if (!seen.insert(core).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("cpu.pressure: cores lists core ", core, " twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Fault>> MakeCpuPressureFault(const v1::CpuPressure& spec,
                                                            const FaultContext& context) {
  FL_RETURN_IF_ERROR(ValidateCpuPressure(spec));
  return std::unique_ptr<Fault>(new CpuPressureFault(spec, context));
}

}  // namespace faultline::agent
