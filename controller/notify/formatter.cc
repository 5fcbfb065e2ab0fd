// UpdateFormatter and RedactUrl (notifier.h): which events become chat
// updates and what each one says.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/units.h"
#include "controller/notify/notifier.h"

namespace faultline::controller {
namespace {

// Slack's limit for a section field is 2000 characters.
constexpr size_t kMaxField = 1900;

std::string Str(const nlohmann::json& data, const char* key) {
  if (!data.is_object()) return "";
  auto it = data.find(key);
  if (it == data.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

int64_t Int(const nlohmann::json& data, const char* key) {
  if (!data.is_object()) return 0;
  auto it = data.find(key);
  if (it == data.end() || !it->is_number()) return 0;
  return it->get<int64_t>();
}

std::string Ms(int64_t ms) { return FormatDuration(std::chrono::milliseconds(ms)); }

// mrkdwn needs &, < and > escaped; everything else is shown as written.
std::string Escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  if (out.size() > kMaxField) out = out.substr(0, kMaxField) + "…";
  return out;
}

std::string Host(const nlohmann::json& data) {
  std::string agent = Str(data, "agent");
  return agent.empty() || agent == "local" || agent == "embedded" ? "local" : agent;
}

struct Parts {
  std::string headline;  // the one-line fallback, without the run prefix
  std::string what, status, actions, next;
};

nlohmann::json Field(const std::string& title, const std::string& body) {
  return {{"type", "mrkdwn"}, {"text", Escape(absl::StrCat("*", title, "*\n", body))}};
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "(invalid url)";
  size_t host_end = url.find_first_of("/?#", scheme + 3);
  std::string authority = url.substr(
      scheme + 3, host_end == std::string::npos ? std::string::npos : host_end - scheme - 3);
  // user:password@host -> host
  if (size_t at = authority.rfind('@'); at != std::string::npos)
    authority = authority.substr(at + 1);
  return absl::StrCat(url.substr(0, scheme), "://", authority);
}

std::string UpdateFormatter::ActiveSummary() const {
  if (active_.empty()) return "no faults active";
  std::map<std::string, std::vector<std::string>> by_host;
  for (const auto& [id, f] : active_) by_host[f.host].push_back(f.kind);
  std::vector<std::string> hosts;
  for (const auto& [host, kinds] : by_host) {
    hosts.push_back(absl::StrCat(host, ": ", absl::StrJoin(kinds, ", ")));
  }
  return absl::StrCat(active_.size(), active_.size() == 1 ? " fault" : " faults", " active (",
                      absl::StrJoin(hosts, "; "), ")");
}

std::optional<nlohmann::json> UpdateFormatter::Format(const Event& event) {
  const nlohmann::json& d = event.data;
  const std::string& run = event.run_id;
  const std::string abort_hint =
      absl::StrCat("stop everything: `faultline abort ", run, "` (or Ctrl-C where it runs)");
  Parts p;
  const std::string& t = event.type;
  if (t == "run.started") {
    experiment_ = Str(d, "experiment");
    if (!Str(d, "kind").empty()) kind_ = Str(d, "kind");
    dry_run_ = d.is_object() && d.value("dry_run", false);
    active_.clear();
    p.headline = absl::StrCat(kind_, " started", dry_run_ ? " (dry run)" : "");
    p.what = absl::StrCat(kind_, " `", experiment_, "` started", dry_run_ ? " as a dry run" : "");
    if (!Str(d, "hypothesis").empty())
      absl::StrAppend(&p.what, "\nHypothesis: ", Str(d, "hypothesis"));
    if (d.is_object() && d.contains("roles") && d["roles"].is_object()) {
      std::vector<std::string> roles;
      for (const auto& [role, who] : d["roles"].items()) {
        roles.push_back(
            absl::StrCat(role, ": ", who.is_string() ? who.get<std::string>() : who.dump()));
      }
      if (!roles.empty()) absl::StrAppend(&p.what, "\nRoles: ", absl::StrJoin(roles, ", "));
    }
    p.status = "running; no faults active yet";
    p.actions = absl::StrCat("run `", run, "` recorded in the journal");
    p.next = absl::StrCat("connect to the agents, check the steady state, then run the method; ",
                          abort_hint);
  } else if (t == "fault.applied") {
    const std::string id = Str(d, "fault_id");
    active_[id] = {Str(d, "kind"), Host(d)};
    ++applied_total_;
    if (Int(d, "phase") > 0) return std::nullopt;  // later ramp phase / flap cycle
    const std::string target = Str(d, "target");
    p.headline = absl::StrCat("fault applied: ", Str(d, "kind"), " on ", Host(d));
    p.what = absl::StrCat(
        "Fault applied: ", Str(d, "kind"), " on ", Host(d),
        target.empty() || target == Host(d) ? "" : absl::StrCat(" (target ", target, ")"),
        Str(d, "summary").empty() ? "" : absl::StrCat(" — ", Str(d, "summary")));
    p.status = ActiveSummary();
    p.actions =
        absl::StrCat("applied `", id, "`",
                     Str(d, "engine").empty() ? "" : absl::StrCat(" via ", Str(d, "engine")),
                     Str(d, "ramp").empty() ? "" : " (ramp: first phase)",
                     Str(d, "flap").empty() ? "" : " (flapping on/off)");
    p.next = absl::StrCat("held for ", Ms(Int(d, "duration_ms")), ", then reverted automatically; ",
                          abort_hint);
  } else if (t == "fault.reverted") {
    const std::string id = Str(d, "fault_id");
    active_.erase(id);
    const std::string reason = Str(d, "reason");
    if (reason == "flap off" || reason.rfind("next ramp phase", 0) == 0) return std::nullopt;
    p.headline = absl::StrCat("fault reverted: ", Str(d, "kind"), " on ", Host(d));
    p.what = absl::StrCat("Fault reverted: ", Str(d, "kind"), " on ", Host(d),
                          reason.empty() ? "" : absl::StrCat(" (", reason, ")"));
    p.status = ActiveSummary();
    p.actions = absl::StrCat("reverted `", id, "`",
                             d.is_object() && !d.value("reversible", true)
                                 ? " (its effect cannot be undone, e.g. processes killed)"
                                 : "");
    p.next = active_.empty() ? "continue with the method; the steady state is checked at the end"
                             : "the remaining faults are reverted when their duration ends";
  } else if (t == "fault.failed") {
    active_.erase(Str(d, "fault_id"));
    p.headline = absl::StrCat("fault failed: ", Str(d, "kind"), " on ", Host(d));
    p.what = absl::StrCat("Fault could not be applied: ", Str(d, "kind"), " on ", Host(d), ": ",
                          Str(d, "error"),
                          Str(d, "code").empty() ? "" : absl::StrCat(" (", Str(d, "code"), ")"));
    p.status = ActiveSummary();
    p.actions = "nothing new is injected; the run aborts";
    p.next = "every fault applied anywhere is reverted; the run ends failed (exit 3)";
  } else if (t == "abort") {
    p.headline = absl::StrCat("aborting: ", Str(d, "reason"));
    p.what = absl::StrCat("Run aborting: ", Str(d, "reason"));
    p.status = absl::StrCat("stopping; ", ActiveSummary());
    p.actions = "injection stopped; reverting every fault on every host";
    p.next = "an update follows once every fault is reverted";
  } else if (t == "abort.reverted") {
    const bool all = d.is_object() && d.value("all_reverted", true);
    p.headline =
        all ? "abort complete: every fault reverted" : "abort: NOT every fault confirmed reverted";
    p.what = all ? absl::StrCat("Abort complete: every fault reverted ", Ms(Int(d, "revert_ms")),
                                " after the abort condition")
                 : "Abort: some faults could not be confirmed reverted";
    p.status = all ? "no faults active" : "agents revert the rest when the lease or TTL expires";
    p.actions = "reverted every fault this run applied";
    p.next = all ? "the run finishes (rollback actions, verdict)"
                 : absl::StrCat(
                       "check the hosts; `faultline halt` reverts everything in the inventory; "
                       "see `faultline show ",
                       run, "`");
  } else if (t == "lease.lost") {
    p.headline = absl::StrCat("lease lost on ", Host(d));
    p.what = absl::StrCat("Lease lost on agent ", Host(d),
                          Str(d, "error").empty() ? "" : absl::StrCat(": ", Str(d, "error")));
    p.status = ActiveSummary();
    p.actions = "the agent reverts this run's faults itself when the lease expires";
    p.next = "the run aborts and reverts everything it can reach";
  } else if (t == "drill.detected") {
    p.headline =
        absl::StrCat("detected: ", Str(d, "alert"), " after ", Ms(Int(d, "time_to_detect_ms")));
    p.what =
        absl::StrCat("Alert `", Str(d, "alert"), "` detected ", Ms(Int(d, "time_to_detect_ms")),
                     " after the first fault (target: within ", Ms(Int(d, "within_ms")), ")");
    p.status = ActiveSummary();
    p.actions = absl::StrCat(
        "time to detect recorded",
        Str(d, "source").empty() ? "" : absl::StrCat(" (seen via ", Str(d, "source"), ")"));
    p.next = "the drill goes on; recovery is measured when the faults end";
  } else if (t == "drill.recovered") {
    p.headline =
        absl::StrCat("recovered: ", Str(d, "probe"), " after ", Ms(Int(d, "time_to_recover_ms")));
    p.what =
        absl::StrCat("Probe `", Str(d, "probe"), "` recovered ", Ms(Int(d, "time_to_recover_ms")),
                     " after ", Str(d, "from"), " (target: within ", Ms(Int(d, "within_ms")), ")");
    p.status = ActiveSummary();
    p.actions = "time to recover recorded";
    p.next = "the drill finishes with its verdict";
  } else if (t == "drill.missed") {
    const std::string what = Str(d, "expectation");
    const std::string name = what == "detect" ? Str(d, "alert") : Str(d, "probe");
    p.headline = absl::StrCat("expectation missed: ", what, " ", name);
    p.what = absl::StrCat("Expectation missed: ", what, " `", name, "` not within ",
                          Ms(Int(d, "within_ms")),
                          Str(d, "reason").empty() ? "" : absl::StrCat(" — ", Str(d, "reason")));
    p.status = ActiveSummary();
    p.actions = "recorded; the run's verdict will be deviated";
    p.next = what == "detect" ? "check the alert rule and its routing after the drill"
                              : "check why the service did not recover; note it for the review";
  } else if (t == "run.finished") {
    const std::string status = Str(d, "status");
    p.headline = absl::StrCat("finished: ", status, " — ", Str(d, "verdict"));
    p.what =
        absl::StrCat(kind_, " `", experiment_, "` finished: *", status, "* — ", Str(d, "verdict"));
    p.status = absl::StrCat(status, " (exit code ", Int(d, "exit_code"), "); ", ActiveSummary());
    p.actions = applied_total_ == 0
                    ? "no fault was applied"
                    : absl::StrCat(applied_total_, applied_total_ == 1 ? " fault" : " faults",
                                   " applied and reverted");
    p.next = absl::StrCat("review: `faultline report ", run, "`; add notes: `faultline note ", run,
                          " \"...\"`");
  } else {
    return std::nullopt;
  }
  const std::string name = experiment_.empty() ? "run" : experiment_;
  nlohmann::json body;
  body["text"] = absl::StrCat("Faultline ", name, " (", run, "): ", p.headline);
  body["blocks"] = nlohmann::json::array(
      {{{"type", "section"},
        {"text",
         {{"type", "mrkdwn"},
          {"text", Escape(absl::StrCat("*Faultline* · ", name, " · run `", run, "` · ", t))}}}},
       {{"type", "section"},
        {"fields", nlohmann::json::array(
                       {Field("What is happening", p.what), Field("Current status", p.status),
                        Field("Actions taken", p.actions), Field("Next step", p.next)})}}});
  body["faultline"] = {{"run_id", run},
                       {"event", t},
                       {"unix_ms", event.unix_ms},
                       {"experiment", experiment_},
                       {"active_faults", active_.size()}};
  return body;
}

}  // namespace faultline::controller
