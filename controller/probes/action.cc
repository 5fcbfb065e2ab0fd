#include "controller/probes/action.h"

#include "absl/strings/str_cat.h"
#include "controller/probes/transport.h"
#include "nlohmann/json.hpp"

namespace faultline::controller {
namespace {

constexpr size_t kActionMaxOutputBytes = 64 << 10;
constexpr size_t kActionExcerptChars = 200;

ProbeResult RunExecAction(const RollbackAction& action) {
  ProbeResult result;
  ShellRun run = RunShell(action.command, action.timeout, kActionMaxOutputBytes);
  result.latency = run.latency;
  if (!run.error.empty()) {
    result.error = run.error;
  } else if (run.timed_out) {
    result.error = absl::StrCat("command timed out after ", action.timeout.count(), "ms");
  } else if (!run.exited) {
    result.detail = absl::StrCat("signal ", run.signal);
    result.error = absl::StrCat("command killed by signal ", run.signal);
  } else {
    result.detail = absl::StrCat("exit ", run.exit_code);
    result.ok = run.exit_code == 0;
    if (!result.ok) {
      result.error = absl::StrCat("command exited ", run.exit_code);
      if (!run.output.empty()) {
        absl::StrAppend(&result.error, " (output: ", QuotedTail(run.output, kActionExcerptChars),
                        ")");
      }
    }
  }
  return result;
}

ProbeResult RunHttpAction(const RollbackAction& action) {
  ProbeResult result;
  HttpRequest request;
  request.method = action.method.empty() ? "POST" : action.method;
  request.url = action.url;
  request.body = action.body;
  request.timeout = action.timeout;
  if (!action.body.empty()) {
    request.content_type = nlohmann::json::accept(action.body) ? "application/json" : "text/plain";
  }
  HttpExchange exchange = PerformHttp(request);
  result.latency = exchange.latency;
  if (!exchange.error.empty()) {
    result.error = absl::StrCat(request.method, " ", action.url, ": ", exchange.error);
    return result;
  }
  result.detail = absl::StrCat("status ", exchange.status);
  result.ok = exchange.status >= 200 && exchange.status < 300;
  if (!result.ok) {
    result.error = absl::StrCat(request.method, " ", action.url, ": status ", exchange.status);
  }
  return result;
}

}  // namespace

ProbeResult RunAction(const RollbackAction& action) {
  switch (action.kind) {
    case RollbackAction::Kind::kExec: return RunExecAction(action);
    case RollbackAction::Kind::kHttp: return RunHttpAction(action);
  }
  ProbeResult unknown;
  unknown.error = "unknown rollback action kind";
  return unknown;
}

}  // namespace faultline::controller
