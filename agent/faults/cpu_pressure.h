// PLACEHOLDER: replaced by the module owner.
#ifndef FAULTLINE_AGENT_FAULTS_CPU_PRESSURE_H_
#define FAULTLINE_AGENT_FAULTS_CPU_PRESSURE_H_
#include <memory>
#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
namespace faultline::agent {
absl::Status ValidateCpuPressure(const v1::CpuPressure& spec);
absl::StatusOr<std::unique_ptr<Fault>> MakeCpuPressureFault(const v1::CpuPressure& spec, const FaultContext& context);
}  // namespace faultline::agent
#endif
