// Placeholder: the engine is being built (issue 3).
#include "agent/faults/network/nft_fault.h"

namespace faultline::agent {

absl::StatusOr<std::unique_ptr<Fault>> MakeNftFault(const v1::FaultSpec& spec,
                                              const FaultContext& context) {
  return absl::UnimplementedError("nft_fault engine not built yet");
}

}  // namespace faultline::agent
