// PLACEHOLDER: replaced by the module owner.
#ifndef FAULTLINE_AGENT_FAULTS_MEMORY_PRESSURE_H_
#define FAULTLINE_AGENT_FAULTS_MEMORY_PRESSURE_H_
#include <memory>
#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
namespace faultline::agent {
absl::Status ValidateMemoryPressure(const v1::MemoryPressure& spec);
absl::StatusOr<std::unique_ptr<Fault>> MakeMemoryPressureFault(const v1::MemoryPressure& spec, const FaultContext& context);
}  // namespace faultline::agent
#endif
