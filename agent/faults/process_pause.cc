// PLACEHOLDER: replaced by the module owner.
#include "agent/faults/process_pause.h"
namespace faultline::agent {
absl::Status ValidateProcessPause(const v1::ProcessPause&) { return absl::UnimplementedError("not built yet"); }
absl::StatusOr<std::unique_ptr<Fault>> MakeProcessPauseFault(const v1::ProcessPause&, const FaultContext&) {
  return absl::UnimplementedError("not built yet");
}
}  // namespace faultline::agent
