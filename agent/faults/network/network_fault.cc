#include "agent/faults/network/network_fault.h"

#include "agent/faults/network/nft_fault.h"
#include "agent/faults/network/queue_delay_fault.h"
#include "agent/faults/network/tc_fault.h"

namespace faultline::agent {

bool IsNetworkSpec(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kNetworkDelay:
    case v1::FaultSpec::kNetworkLoss:
    case v1::FaultSpec::kNetworkDuplicate:
    case v1::FaultSpec::kNetworkCorrupt:
    case v1::FaultSpec::kNetworkBandwidth:
    case v1::FaultSpec::kNetworkPartition:
      return true;
    default:
      return false;
  }
}

// Placeholder until the engines land (issue 3).
absl::Status ValidateNetworkSpec(const v1::FaultSpec& spec) {
  return absl::UnimplementedError("network faults are not built yet");
}

absl::StatusOr<std::string> ChooseNetworkEngine(const v1::FaultSpec& spec,
                                                const NetworkSupport& support) {
  return absl::UnimplementedError("network faults are not built yet");
}

absl::StatusOr<std::unique_ptr<Fault>> MakeNetworkFault(const v1::FaultSpec& spec,
                                                        const FaultContext& context) {
  return absl::UnimplementedError("network faults are not built yet");
}

std::vector<v1::KindCapability> NetworkCapabilities(const NetworkSupport& support) {
  return {};
}

}  // namespace faultline::agent
