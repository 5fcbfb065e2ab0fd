// Placeholder: the engine is being built (issue 3).
#include "agent/faults/network/tc_fault.h"

namespace faultline::agent {

absl::StatusOr<std::unique_ptr<Fault>> MakeTcFault(const v1::FaultSpec& spec,
                                                   const std::string& engine,
                                                   const FaultContext& context) {
  return absl::UnimplementedError("tc engine not built yet");
}

}  // namespace faultline::agent
