// PLACEHOLDER: replaced by the module owner.
#ifndef FAULTLINE_AGENT_FAULTS_PROCESS_PAUSE_H_
#define FAULTLINE_AGENT_FAULTS_PROCESS_PAUSE_H_
#include <memory>
#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
namespace faultline::agent {
absl::Status ValidateProcessPause(const v1::ProcessPause& spec);
absl::StatusOr<std::unique_ptr<Fault>> MakeProcessPauseFault(const v1::ProcessPause& spec, const FaultContext& context);
}  // namespace faultline::agent
#endif
