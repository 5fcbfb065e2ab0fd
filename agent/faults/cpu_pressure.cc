// PLACEHOLDER: replaced by the module owner.
#include "agent/faults/cpu_pressure.h"
namespace faultline::agent {
absl::Status ValidateCpuPressure(const v1::CpuPressure&) { return absl::UnimplementedError("not built yet"); }
absl::StatusOr<std::unique_ptr<Fault>> MakeCpuPressureFault(const v1::CpuPressure&, const FaultContext&) {
  return absl::UnimplementedError("not built yet");
}
}  // namespace faultline::agent
