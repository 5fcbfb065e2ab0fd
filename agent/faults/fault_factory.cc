#include "agent/faults/fault_factory.h"

#include "absl/strings/str_cat.h"
#include "agent/faults/cpu_pressure.h"
#include "agent/faults/memory_pressure.h"
#include "agent/faults/process_kill.h"
#include "agent/faults/process_pause.h"

namespace faultline::agent {

std::string KindName(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kCpuPressure: return "cpu.pressure";
    case v1::FaultSpec::kMemoryPressure: return "memory.pressure";
    case v1::FaultSpec::kProcessKill: return "process.kill";
    case v1::FaultSpec::kProcessPause: return "process.pause";
    case v1::FaultSpec::KIND_NOT_SET: break;
  }
  return "";
}

std::vector<std::string> KnownKinds() {
  return {"cpu.pressure", "memory.pressure", "process.kill", "process.pause"};
}

absl::Status ValidateSpec(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kCpuPressure: return ValidateCpuPressure(spec.cpu_pressure());
    case v1::FaultSpec::kMemoryPressure: return ValidateMemoryPressure(spec.memory_pressure());
    case v1::FaultSpec::kProcessKill: return ValidateProcessKill(spec.process_kill());
    case v1::FaultSpec::kProcessPause: return ValidateProcessPause(spec.process_pause());
    case v1::FaultSpec::KIND_NOT_SET: break;
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
  }
  return absl::InvalidArgumentError("fault spec names no fault kind");
}

}  // namespace faultline::agent
