// libFuzzer target: arbitrary bytes as the agent's config file
// (agent/config/agent_config_file.h), which runs the `policy:` and
// `authorization:` section readers too. Contract checked on every input:
// ParseAgentConfigFile returns (no crash, exception or sanitizer report);
// success appends no diagnostic; failure is InvalidArgument with at least one
// diagnostic, each at a 1-based line and column of the file. A broken
// contract aborts, which libFuzzer records as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/config/agent_config_file.h"

namespace {

constexpr char kFile[] = "/etc/faultline/agent.yaml";

[[noreturn]] void Fail(const char* what, const absl::Status& status,
                       const std::vector<faultline::Diagnostic>& diagnostics) {
  std::fprintf(stderr, "contract broken: %s\nstatus: %s\n", what, status.ToString().c_str());
  for (const auto& d : diagnostics) std::fprintf(stderr, "  %s\n", d.ToString().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<faultline::Diagnostic> diagnostics;
  auto config = faultline::agent::ParseAgentConfigFile(text, kFile, &diagnostics);
  if (config.ok()) {
    if (!diagnostics.empty()) Fail("success appended diagnostics", config.status(), diagnostics);
    if (config->policy.has_value()) (void)config->policy->Describe();
    return 0;
  }
  if (!absl::IsInvalidArgument(config.status())) {
    Fail("failure is not InvalidArgument", config.status(), diagnostics);
  }
  if (diagnostics.empty()) Fail("failure without diagnostics", config.status(), diagnostics);
  for (const auto& d : diagnostics) {
    if (d.where.file != kFile || d.where.line < 1 || d.where.column < 1 || d.message.empty()) {
      Fail("diagnostic without file:line:col", config.status(), diagnostics);
    }
  }
  return 0;
}
