#include "controller/serve/run_info.h"

#include <map>

namespace faultline::controller {
namespace {

std::string Text(const nlohmann::json& data, const char* key) {
  if (!data.is_object() || !data.contains(key) || !data[key].is_string()) return "";
  return data[key].get<std::string>();
}

}  // namespace

RunInfo SummarizeRun(const RunRecord& run, const std::vector<Event>& events) {
  RunInfo info;
  std::string reason;
  std::map<std::string, std::string> waiting;  // gate path -> message
  for (const Event& e : events) {
    if (e.type == "run.finished") {
      info.verdict = Text(e.data, "verdict");
      waiting.clear();
    } else if (e.type == "schedule.skipped" || e.type == "schedule.missed" ||
               e.type == "run.interrupted") {
      if (reason.empty()) reason = Text(e.data, "reason");
    } else if (e.type == "gate.waiting") {
      waiting[Text(e.data, "path")] = Text(e.data, "message");
    } else if (e.type == "gate.continued" || e.type == "gate.timeout") {
      waiting.erase(Text(e.data, "path"));
    } else if (e.type == "abort" || e.type == "run.aborted") {
      waiting.clear();
    }
  }
  if (info.verdict.empty()) info.verdict = reason;
  if (!waiting.empty() && !IsFinal(run.status)) {
    info.waiting_gate = waiting.begin()->first;
    info.waiting_message = waiting.begin()->second;
  }
  return info;
}

}  // namespace faultline::controller
