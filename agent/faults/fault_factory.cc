#include "agent/faults/fault_factory.h"

#include <unistd.h>


#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/faults/cpu_pressure.h"
#include "agent/faults/memory_pressure.h"
#include "agent/faults/network/network_fault.h"
#include "agent/faults/process_kill.h"
#include "agent/faults/process_pause.h"

namespace faultline::agent {

std::string KindName(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kCpuPressure: return "cpu.pressure";
    case v1::FaultSpec::kMemoryPressure: return "memory.pressure";
    case v1::FaultSpec::kProcessKill: return "process.kill";
    case v1::FaultSpec::kProcessPause: return "process.pause";
    case v1::FaultSpec::kNetworkDelay: return "network.delay";
    case v1::FaultSpec::kNetworkLoss: return "network.loss";
    case v1::FaultSpec::kNetworkDuplicate: return "network.duplicate";
    case v1::FaultSpec::kNetworkCorrupt: return "network.corrupt";
    case v1::FaultSpec::kNetworkBandwidth: return "network.bandwidth";
    case v1::FaultSpec::kNetworkPartition: return "network.partition";
    case v1::FaultSpec::KIND_NOT_SET: break;
  }
  return "";
}

std::vector<std::string> KnownKinds() {
  return {"cpu.pressure",      "memory.pressure",   "process.kill",
          "process.pause",     "network.delay",     "network.loss",
          "network.duplicate", "network.corrupt",   "network.bandwidth",
          "network.partition"};
}

absl::Status ValidateSpec(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kCpuPressure: return ValidateCpuPressure(spec.cpu_pressure());
    case v1::FaultSpec::kMemoryPressure: return ValidateMemoryPressure(spec.memory_pressure());
    case v1::FaultSpec::kProcessKill: return ValidateProcessKill(spec.process_kill());
    case v1::FaultSpec::kProcessPause: return ValidateProcessPause(spec.process_pause());
    case v1::FaultSpec::KIND_NOT_SET: break;
    default: return ValidateNetworkSpec(spec);
  }
  return absl::InvalidArgumentError("fault spec names no fault kind");
}

absl::StatusOr<std::unique_ptr<Fault>> MakeFault(const v1::FaultSpec& spec,
                                                 const FaultContext& context) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kCpuPressure: return MakeCpuPressureFault(spec.cpu_pressure(), context);
    case v1::FaultSpec::kMemoryPressure:
      return MakeMemoryPressureFault(spec.memory_pressure(), context);
    case v1::FaultSpec::kProcessKill: return MakeProcessKillFault(spec.process_kill(), context);
    case v1::FaultSpec::kProcessPause: return MakeProcessPauseFault(spec.process_pause(), context);
    case v1::FaultSpec::KIND_NOT_SET: break;
    default: return MakeNetworkFault(spec, context);
  }
  return absl::InvalidArgumentError("fault spec names no fault kind");
}

namespace {

// The smallest valid spec of a stressor kind: Prepare() on it picks the
// engine (cgroup hierarchy) a real fault of that kind would use here.
v1::FaultSpec ProbeSpecOf(bool cpu) {
  v1::FaultSpec spec;
  if (cpu) {
    spec.mutable_cpu_pressure()->set_load_pct(1);
    spec.mutable_cpu_pressure()->set_workers(1);
  } else {
    spec.mutable_memory_pressure()->set_size_bytes(1);
  }
  return spec;
}

}  // namespace

std::vector<v1::KindCapability> HostCapabilities(const FaultContext& context) {
  const bool stressor_ok =
      !context.stressor_path.empty() && ::access(context.stressor_path.c_str(), X_OK) == 0;
  std::vector<v1::KindCapability> kinds;
  for (const std::string& kind : KnownKinds()) {
    if (absl::StartsWith(kind, "network.")) continue;  // NetworkCapabilities below
    v1::KindCapability capability;
    capability.set_kind(kind);
    capability.set_available(true);
    const bool cpu = kind == "cpu.pressure";
    const bool memory = kind == "memory.pressure";
    if (cpu || memory) {
      // Ask the fault itself (Prepare has no side effects), so Capabilities
      // can never disagree with what Apply will really use.
      FaultContext probe_context = context;
      probe_context.fault_id = "capabilities-probe";
      auto fault = MakeFault(ProbeSpecOf(cpu), probe_context);
      if (fault.ok() && (*fault)->Prepare().ok()) capability.add_engines((*fault)->engine());
      if (capability.engines_size() == 0 || capability.engines(0) != "stressor") {
        capability.add_engines("stressor");  // the fallback when no cgroup can be made
      }
      if (!stressor_ok) {
        capability.set_available(false);
        capability.set_reason(absl::StrCat("stressor binary not executable at \"",
                                           context.stressor_path, "\""));
      }
    } else {
      capability.add_engines("pidfd");
    }
    kinds.push_back(std::move(capability));
  }
  for (v1::KindCapability& capability : NetworkCapabilities(context.network)) {
    kinds.push_back(std::move(capability));
  }
  return kinds;
}

}  // namespace faultline::agent
