#include "controller/run/runner.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "controller/probes/probe.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json ToJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) return {};
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

nlohmann::json Observed(const v1::FaultStatus& status) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : status.observed()) out[name] = value;
  return out;
}

std::string CodeName(const absl::Status& status) {
  return absl::StatusCodeToString(status.code());
}

}  // namespace

struct Runner::Active {
  std::string agent;
  std::string kind;
  std::string target;
  std::string fault_id;
  bool reversible = true;
};

Runner::Runner(const Experiment& experiment, JournalStore* store, StopSignal* stop,
               RunOptions options, EventCallback on_event)
    : experiment_(experiment),
      store_(store),
      stop_(stop),
      options_(std::move(options)),
      on_event_(std::move(on_event)) {}

Runner::~Runner() = default;

void Runner::Record(const std::string& type, nlohmann::json data) {
  std::lock_guard lock(record_mu_);
  Event event;
  event.run_id = run_id_;
  event.unix_ms = NowUnixMs();
  event.type = type;
  event.data = std::move(data);
  absl::Status status = store_->Append(run_id_, type, event.data);
  if (!status.ok() && !journal_failed_) {
    // A run we cannot record is a run nobody can review: stop injecting.
    journal_failed_ = true;
    spdlog::error("journal write failed run={} error={}", run_id_, status.ToString());
    stop_->Stop(absl::StrCat("journal write failed: ", status.message()));
  }
  if (on_event_) on_event_(event);
}

void Runner::Abort(const std::string& reason) {
  std::lock_guard lock(abort_mu_);
  if (abort_reason_.empty()) abort_reason_ = reason;
  stop_->Stop(reason);
}

AgentClient& Runner::ClientFor(const std::string& agent) { return *clients_.at(agent); }

bool Runner::ConnectAgents() {
  bool ok = true;
  for (auto& [agent, client] : clients_) {
    auto caps = client->Capabilities();
    if (!caps.ok()) {
      Record("agent.unreachable", {{"agent", client->name()},
                                   {"address", client->address()},
                                   {"error", std::string(caps.status().message())},
                                   {"code", CodeName(caps.status())}});
      ok = false;
      continue;
    }
    Record("agent.ready", {{"agent", client->name()},
                           {"address", client->address()},
                           {"version", caps->agent_version()},
                           {"hostname", caps->hostname()},
                           {"kernel", caps->kernel()}});
  }
  return ok;
}

bool Runner::CheckSteadyState(const std::string& phase) {
  bool held = true;
  for (const Probe& probe : experiment_.steady_state) {
    ProbeResult result = RunProbe(probe);
    held = held && result.ok;
    Record("probe.result", {{"probe", probe.name},
                            {"phase", phase},
                            {"ok", result.ok},
                            {"latency_ms", result.latency.count() / 1000.0},
                            {"detail", result.detail},
                            {"error", result.error}});
  }
  return held;
}

void Runner::RevertFault(Active& fault, const std::string& reason) {
  auto response = ClientFor(fault.agent).Revert(fault.fault_id);
  if (!response.ok()) {
    // The agent still holds its TTL and our lease; it will revert on its own,
    // but this run cannot claim to have left nothing behind.
    revert_failed_ = true;
    Record("fault.revert_failed", {{"fault_id", fault.fault_id},
                                   {"kind", fault.kind},
                                   {"agent", ClientFor(fault.agent).name()},
                                   {"error", std::string(response.status().message())},
                                   {"code", CodeName(response.status())}});
    return;
  }
  Record("fault.reverted",
         {{"fault_id", fault.fault_id},
          {"kind", fault.kind},
          {"agent", ClientFor(fault.agent).name()},
          {"reason", response->was_active() ? reason
                     : response->fault().revert_reason().empty()
                         ? "already reverted by the agent"
                         : absl::StrCat(response->fault().revert_reason(), " (by the agent)")},
          {"reversible", fault.reversible},
          {"observed", Observed(response->fault())}});
}

void Runner::RevertAll(const std::string& reason) {
  // Newest first: undo in the reverse order of injection.
  for (auto it = active_.rbegin(); it != active_.rend(); ++it) RevertFault(**it, reason);
  active_.clear();
}

bool Runner::RunFaultStep(const PlannedStep& step) {
  const Step& spec = *step.step;
  for (const PlannedFault& planned : step.faults) {
    if (stop_->stopped()) return false;  // the big red stop injects nothing new
    AgentClient& client = ClientFor(planned.agent);
    auto response = client.Apply(planned.request);
    if (!response.ok()) {
      const absl::StatusCode code = response.status().code();
      if (!options_.dry_run && (code == absl::StatusCode::kDeadlineExceeded ||
                                code == absl::StatusCode::kUnavailable ||
                                code == absl::StatusCode::kCancelled)) {
        // Outcome unknown: the agent may have applied it after we gave up.
        // Reverting an id the agent never applied succeeds, so track it.
        auto unknown = std::make_unique<Active>();
        unknown->agent = planned.agent;
        unknown->kind = spec.fault_kind;
        unknown->target = spec.target;
        unknown->fault_id = planned.request.fault_id();
        active_.push_back(std::move(unknown));
      }
      Record("fault.failed", {{"fault_id", planned.request.fault_id()},
                              {"kind", spec.fault_kind},
                              {"agent", client.name()},
                              {"step", step.index},
                              {"error", std::string(response.status().message())},
                              {"code", CodeName(response.status())}});
      Abort(absl::StrCat("step ", step.index, ": ", spec.fault_kind, " could not be applied on ",
                         client.name()));
      return false;
    }
    const v1::FaultStatus& status = response->fault();
    if (!options_.dry_run) {
      auto active = std::make_unique<Active>();
      active->agent = planned.agent;
      active->kind = spec.fault_kind;
      active->target = spec.target;
      active->fault_id = planned.request.fault_id();
      active->reversible = status.reversible();
      active_.push_back(std::move(active));
    }
    Record(options_.dry_run ? "fault.validated" : "fault.applied",
           {{"fault_id", planned.request.fault_id()},
            {"kind", spec.fault_kind},
            {"target", spec.target.empty() ? "local" : spec.target},
            {"agent", client.name()},
            {"engine", status.engine()},
            {"params", ToJson(planned.request.spec())},
            {"summary", spec.params_summary},
            {"duration_ms", spec.duration.count()},
            {"resolved", status.target()},
            {"step", step.index}});
  }
  if (options_.dry_run) return true;

  // Hold the faults for the step's duration, journaling what the agents see.
  auto end = SteadyClock::now() + spec.duration;
  while (true) {
    auto left = std::chrono::duration_cast<milliseconds>(end - SteadyClock::now());
    if (left <= milliseconds(0)) break;
    if (stop_->WaitFor(std::min(left, options_.observe_interval))) return false;
    if (SteadyClock::now() >= end) break;
    for (const auto& fault : active_) {
      auto list = ClientFor(fault->agent).List(run_id_);
      if (!list.ok()) continue;
      for (const v1::FaultStatus& s : list->faults()) {
        if (s.fault_id() != fault->fault_id) continue;
        Record("fault.observed", {{"fault_id", s.fault_id()},
                                  {"agent", ClientFor(fault->agent).name()},
                                  {"observed", Observed(s)}});
      }
    }
  }
  RevertAll("duration");
  return true;
}

void Runner::RenewLeases() {
  // Each agent's last successful renewal; past the TTL the agent has reverted.
  std::map<std::string, SteadyClock::time_point> last_ok;
  for (const auto& [agent, client] : clients_) last_ok[agent] = SteadyClock::now();
  milliseconds period = std::max(milliseconds(100), options_.lease_ttl / 3);
  while (!lease_stop_.WaitFor(period)) {
    for (const auto& [agent, client] : clients_) {
      auto renewed = client->RenewLease(run_id_, options_.lease_ttl);
      if (renewed.ok()) {
        last_ok[agent] = SteadyClock::now();
        continue;
      }
      bool expired = renewed.status().code() == absl::StatusCode::kFailedPrecondition ||
                     SteadyClock::now() - last_ok[agent] > options_.lease_ttl;
      spdlog::warn("lease renewal failed run={} agent={} error={}", run_id_, client->name(),
                   renewed.status().ToString());
      if (expired) {
        Record("lease.lost", {{"agent", client->name()},
                              {"error", std::string(renewed.status().message())}});
        Abort(absl::StrCat("lease lost on ", client->name()));
        return;
      }
    }
  }
}

absl::StatusOr<RunOutcome> Runner::Run() {
  RunRecord record;
  record.experiment = experiment_.name;
  record.experiment_path = experiment_.path;
  record.source_text = experiment_.source_text;
  record.controller_pid = getpid();
  record.dry_run = options_.dry_run;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  record.host = host;
  auto created = store_->CreateRun(record);
  if (!created.ok()) return created.status();
  run_id_ = created->run_id;
  started_ms_ = created->started_unix_ms;

  RunOutcome outcome;
  outcome.run_id = run_id_;

  PlanOptions plan_options;
  plan_options.lease_ttl = options_.lease_ttl;
  plan_options.dry_run = options_.dry_run;
  auto plan = MakePlan(experiment_, run_id_, plan_options);

  nlohmann::json targets = nlohmann::json::object();
  for (const auto& [name, target] : experiment_.targets) targets[name] = target.agents;
  Record("run.started", {{"experiment", experiment_.name},
                         {"file", experiment_.path},
                         {"dry_run", options_.dry_run},
                         {"targets", targets},
                         {"embedded", plan.ok() && plan->uses_embedded_agent}});
  if (!plan.ok()) {
    outcome.status = RunStatus::kFailed;
    outcome.exit_code = kExitInvalid;
    outcome.verdict = std::string(plan.status().message());
  } else {
    for (const std::string& agent : plan->agents) {
      bool embedded = agent == kEmbeddedAgent;
      clients_[agent] = std::make_unique<AgentClient>(
          embedded ? "local" : agent, embedded ? options_.embedded_address : agent,
          options_.rpc_deadline);
    }
    nlohmann::json faults = nlohmann::json::array();
    for (const PlannedStep& step : plan->steps) {
      for (const PlannedFault& f : step.faults) {
        faults.push_back({{"step", step.index},
                          {"agent", clients_.at(f.agent)->name()},
                          {"kind", step.step->fault_kind},
                          {"fault_id", f.request.fault_id()},
                          {"summary", step.step->params_summary},
                          {"duration_ms", step.step->duration.count()}});
      }
    }
    std::vector<std::string> agent_names;
    for (const std::string& agent : plan->agents) agent_names.push_back(clients_.at(agent)->name());
    Record("plan", {{"steps", static_cast<int>(plan->steps.size())},
                    {"agents", agent_names},
                    {"faults", faults}});

    bool before_ok = false;
    bool method_done = false;
    if (!ConnectAgents()) {
      Abort("an agent is unreachable; nothing was injected");
    } else if (!(before_ok = CheckSteadyState("before"))) {
      outcome.verdict = "steady state did not hold before the method; nothing was injected";
    } else {
      std::thread lease_thread([this] { RenewLeases(); });
      method_done = true;
      for (const PlannedStep& step : plan->steps) {
        if (stop_->stopped()) {
          method_done = false;
          break;
        }
        Record("step.started", {{"index", step.index},
                                {"kind", step.step->kind == StepKind::kFault ? "fault" : "wait"},
                                {"label", step.step->label}});
        bool ok = true;
        if (step.step->kind == StepKind::kFault) {
          ok = RunFaultStep(step);
        } else if (!options_.dry_run) {
          ok = !stop_->WaitFor(step.step->duration);
          if (ok) Record("wait.finished", {{"duration_ms", step.step->duration.count()}});
        }
        if (!ok) {
          method_done = false;
          break;
        }
      }
      RevertAll(stop_->stopped() ? "abort" : "end of method");
      // Leases are renewed until everything is reverted, then released.
      lease_stop_.Stop("method finished");
      lease_thread.join();
      if (stop_->stopped()) method_done = false;
    }

    // The steady state after the method decides only a run nobody stopped
    // and whose faults are all known to be gone.
    bool after_ok = false;
    if (before_ok && method_done && !options_.dry_run && !stop_->stopped() && !revert_failed_) {
      after_ok = CheckSteadyState("after");
    }
    std::string reason;
    {
      std::lock_guard lock(abort_mu_);
      reason = abort_reason_;
    }
    if (reason.empty() && stop_->stopped()) reason = stop_->reason();  // Ctrl-C, journal
    if (reason.empty() && revert_failed_) {
      reason = "a fault could not be confirmed reverted; its agent reverts it when the lease "
               "or TTL expires (see fault.revert_failed)";
    }
    if (reason.empty() && before_ok && !method_done) reason = "stopped";
    if (!reason.empty()) {
      Record("run.aborted", {{"reason", reason}});
      outcome.status = RunStatus::kAborted;
      outcome.exit_code = kExitAborted;
      outcome.verdict = absl::StrCat("aborted: ", reason);
    } else if (!before_ok) {
      outcome.status = RunStatus::kDeviated;
      outcome.exit_code = kExitDeviated;
    } else if (options_.dry_run) {
      outcome.status = RunStatus::kPassed;
      outcome.exit_code = kExitPassed;
      outcome.verdict = "dry run: every fault validated by its agent; nothing was applied";
    } else if (after_ok) {
      outcome.status = RunStatus::kPassed;
      outcome.exit_code = kExitPassed;
      outcome.verdict = "steady state held";
    } else {
      outcome.status = RunStatus::kDeviated;
      outcome.exit_code = kExitDeviated;
      outcome.verdict = "steady state deviated after the method";
    }
  }
  Record("run.finished", {{"status", RunStatusName(outcome.status)},
                          {"exit_code", outcome.exit_code},
                          {"verdict", outcome.verdict}});
  absl::Status finished = store_->FinishRun(run_id_, outcome.status, outcome.exit_code);
  if (!finished.ok()) spdlog::error("journal finish failed run={} error={}", run_id_, finished.ToString());
  return outcome;
}

}  // namespace faultline::controller
