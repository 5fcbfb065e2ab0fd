// PLACEHOLDER: replaced by the module owner.
#include "agent/faults/memory_pressure.h"
namespace faultline::agent {
absl::Status ValidateMemoryPressure(const v1::MemoryPressure&) { return absl::UnimplementedError("not built yet"); }
absl::StatusOr<std::unique_ptr<Fault>> MakeMemoryPressureFault(const v1::MemoryPressure&, const FaultContext&) {
  return absl::UnimplementedError("not built yet");
}
}  // namespace faultline::agent
