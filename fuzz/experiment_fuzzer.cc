// libFuzzer target: arbitrary bytes as an experiment file and as an
// inventory file. Contract checked on every input (experiment.h):
//   - ParseExperiment / ParseInventory return (no crash, no exception, no
//     sanitizer report, bounded time and memory);
//   - success appends no diagnostic;
//   - failure is InvalidArgument and appends at least one diagnostic, each
//     naming the file with a 1-based line and column (the text was given, so
//     "line 0 = the whole file" never applies).
// A broken contract aborts, which libFuzzer records as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "controller/spec/experiment.h"

namespace {

using faultline::controller::Diagnostic;

constexpr char kFile[] = "fuzz.yaml";

[[noreturn]] void Fail(const char* what, const absl::Status& status,
                       const std::vector<Diagnostic>& diagnostics) {
  std::fprintf(stderr, "contract broken: %s\nstatus: %s\n", what, status.ToString().c_str());
  for (const Diagnostic& d : diagnostics) std::fprintf(stderr, "  %s\n", d.ToString().c_str());
  std::abort();
}

void CheckOutcome(const absl::Status& status, const std::vector<Diagnostic>& diagnostics) {
  if (status.ok()) {
    if (!diagnostics.empty()) Fail("success appended diagnostics", status, diagnostics);
    return;
  }
  if (!absl::IsInvalidArgument(status)) Fail("failure is not InvalidArgument", status, diagnostics);
  if (diagnostics.empty()) Fail("failure without diagnostics", status, diagnostics);
  for (const Diagnostic& d : diagnostics) {
    if (d.where.file != kFile || d.where.line < 1 || d.where.column < 1) {
      Fail("diagnostic without file:line:col", status, diagnostics);
    }
    if (d.message.empty()) Fail("diagnostic without message", status, diagnostics);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  {
    std::vector<Diagnostic> diagnostics;
    auto experiment = faultline::controller::ParseExperiment(text, kFile, &diagnostics);
    CheckOutcome(experiment.status(), diagnostics);
    if (experiment.ok() && experiment->method.empty()) {
      Fail("experiment without method", experiment.status(), diagnostics);
    }
  }
  {
    std::vector<Diagnostic> diagnostics;
    auto inventory = faultline::controller::ParseInventory(text, kFile, &diagnostics);
    CheckOutcome(inventory.status(), diagnostics);
  }
  return 0;
}
