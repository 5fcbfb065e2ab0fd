// Placeholder: the engine is being built (issue 3).
#include "agent/faults/network/queue_delay_fault.h"

namespace faultline::agent {

absl::StatusOr<std::unique_ptr<Fault>> MakeQueueDelayFault(const v1::FaultSpec& spec,
                                              const FaultContext& context) {
  return absl::UnimplementedError("queue_delay_fault engine not built yet");
}

}  // namespace faultline::agent
