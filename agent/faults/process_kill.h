// PLACEHOLDER: replaced by the module owner.
#ifndef FAULTLINE_AGENT_FAULTS_PROCESS_KILL_H_
#define FAULTLINE_AGENT_FAULTS_PROCESS_KILL_H_
#include <memory>
#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
namespace faultline::agent {
absl::Status ValidateProcessKill(const v1::ProcessKill& spec);
absl::StatusOr<std::unique_ptr<Fault>> MakeProcessKillFault(const v1::ProcessKill& spec, const FaultContext& context);
}  // namespace faultline::agent
#endif
