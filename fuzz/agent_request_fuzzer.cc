// libFuzzer target: arbitrary bytes as the wire form of an Apply request, as
// the agent's gRPC layer hands it over. When the bytes parse as a
// v1::ApplyRequest, the agent's pure checks run on it exactly as
// FaultManager::Apply runs them (request_validation.h, policy.h):
//   - ValidateApplyRequest returns OK or InvalidArgument with a message;
//   - Policy::CheckRequest, with a fixed policy that sets every limit, returns
//     OK or PermissionDenied "policy <rule> ...", and with the empty policy
//     OK or PermissionDenied (always protected targets);
// and none of them crashes, throws, trips a sanitizer or runs away.
// A broken contract aborts, which libFuzzer records as a crash.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "agent/manager/request_validation.h"
#include "agent/policy/policy.h"
#include "faultline/v1/agent.pb.h"
#include "google/protobuf/stubs/logging.h"

namespace {

using faultline::agent::Policy;

// The agent's default --max-duration.
constexpr std::chrono::milliseconds kMaxDuration = std::chrono::hours(24);

// A policy as an operator would write it, every limit set (agent config
// `policy:`; see issue6 notes): kinds, delay, loss, CPU, memory, duration,
// interfaces, protected processes.
Policy SamplePolicy() {
  Policy policy;
  policy.allowed_kinds = {{"network.*", "cpu.pressure", "memory.pressure", "process.kill"}};
  policy.max_delay = std::chrono::milliseconds(500);
  policy.max_loss_pct = 30;
  policy.max_cpu_pct = 80;
  policy.max_memory = faultline::agent::MemoryLimit{.bytes = uint64_t{2} << 30, .percent = 0};
  policy.max_duration = std::chrono::minutes(10);
  policy.interfaces = {{"eth0", "veth*"}};
  policy.protected_processes = {"postgres", "cmdline:/usr/sbin/nginx"};
  policy.max_concurrent_faults = 4;
  policy.mem_total_bytes = uint64_t{8} << 30;
  return policy;
}

// A percent memory limit on a host whose MemTotal is unknown: the mixed
// byte/percent comparisons take their refusing branch.
Policy PercentPolicy() {
  Policy policy;
  policy.max_memory = faultline::agent::MemoryLimit{.bytes = 0, .percent = 25};
  policy.max_cpu_pct = 0.5;
  policy.max_loss_pct = 0;
  policy.max_delay = std::chrono::microseconds(0);
  return policy;
}

[[noreturn]] void Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "contract broken: %s\nstatus: %s\n", what, status.ToString().c_str());
  std::abort();
}

void CheckPolicy(const Policy& policy, const faultline::v1::ApplyRequest& request) {
  const absl::Status status = policy.CheckRequest(request);
  if (status.ok()) return;
  if (!absl::IsPermissionDenied(status)) Fail("CheckRequest: not PermissionDenied", status);
  if (!absl::StartsWith(status.message(), "policy ")) {
    Fail("CheckRequest: message does not start with \"policy \"", status);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Invalid UTF-8 in a string field is a parse failure; protobuf also logs
  // it, once per input, which would drown the fuzzer's own output.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Policy* const kSample = new Policy(SamplePolicy());
  static const Policy* const kPercent = new Policy(PercentPolicy());
  static const Policy* const kEmpty = new Policy();

  faultline::v1::ApplyRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return -1;  // not a request

  const absl::Status valid = faultline::agent::ValidateApplyRequest(request, kMaxDuration);
  if (!valid.ok()) {
    if (!absl::IsInvalidArgument(valid)) Fail("ValidateApplyRequest: not InvalidArgument", valid);
    if (valid.message().empty()) Fail("ValidateApplyRequest: empty message", valid);
  }
  // The manager checks the policy for valid requests; the policy must also
  // hold for invalid ones (it is documented as never crashing on any input).
  CheckPolicy(*kSample, request);
  CheckPolicy(*kPercent, request);
  CheckPolicy(*kEmpty, request);
  return 0;
}
