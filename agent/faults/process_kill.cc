// PLACEHOLDER: replaced by the module owner.
#include "agent/faults/process_kill.h"
namespace faultline::agent {
absl::Status ValidateProcessKill(const v1::ProcessKill&) { return absl::UnimplementedError("not built yet"); }
absl::StatusOr<std::unique_ptr<Fault>> MakeProcessKillFault(const v1::ProcessKill&, const FaultContext&) {
  return absl::UnimplementedError("not built yet");
}
}  // namespace faultline::agent
