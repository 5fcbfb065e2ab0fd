#include "controller/run/runner.h"

#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/units.h"
#include "common/unix_time.h"
#include "controller/probes/action.h"
#include "controller/probes/probe.h"
#include "controller/run/control_events.h"
#include "controller/run/fan_out.h"
#include "controller/run/preflight.h"
#include "controller/spec/drill.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

// Time left until `t`, rounded up so a wait never ends just short of it.
milliseconds Until(TimePoint t) {
  return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(t - SteadyClock::now()));
}

int64_t MsBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
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

nlohmann::json ProbeData(const Probe& probe, const std::string& phase, const ProbeResult& r) {
  nlohmann::json d = {{"probe", probe.name},
                      {"kind", ProbeKindName(probe.kind)},
                      {"phase", phase},
                      {"ok", r.ok},
                      {"latency_ms", static_cast<double>(r.latency.count()) / 1000.0},
                      {"latency_us", r.latency.count()},
                      {"detail", r.detail},
                      {"error", r.error}};
  if (r.value.has_value()) d["value"] = *r.value;
  return d;
}

uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) | device();
}

// Every planned fault, depth first, for the "plan" event.
void CollectFaults(const std::vector<PlannedStep>& steps,
                   const std::function<std::string(const std::string&)>& host_name,
                   nlohmann::json* out) {
  for (const PlannedStep& step : steps) {
    for (const PlannedFault& f : step.faults) {
      nlohmann::json fault = {{"step", step.path},
                              {"path", step.path},
                              {"agent", host_name(f.agent)},
                              {"group", f.group},
                              {"kind", step.step->fault_kind},
                              {"fault_id", f.request.fault_id()},
                              {"summary", step.step->params_summary},
                              {"offset_ms", step.offset.count()},
                              {"duration_ms", step.step->duration.count()}};
      if (step.step->ramp) fault["ramp_phases"] = step.step->ramp->specs.size();
      if (step.step->flap) {
        fault["flap"] = {{"on_ms", step.step->flap->on.count()},
                         {"off_ms", step.step->flap->off.count()}};
      }
      out->push_back(std::move(fault));
    }
    CollectFaults(step.children, host_name, out);
  }
}

nlohmann::json StringMap(const std::map<std::string, std::string>& m) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

nlohmann::json RunStartedData(const Experiment& e, bool dry_run, const nlohmann::json& targets,
                              bool embedded) {
  const std::string kind = e.kind.empty() ? "Experiment" : e.kind;
  nlohmann::json expect = nlohmann::json::array();
  for (const DetectExpectation& d : e.expect_detect) {
    expect.push_back({{"type", "detect"},
                      {"alert", d.alert},
                      {"labels", StringMap(d.labels)},
                      {"within_ms", d.within.count()}});
  }
  for (const RecoverExpectation& r : e.expect_recover) {
    expect.push_back({{"type", "recover"},
                      {"probe", r.probe},
                      {"within_ms", r.within.count()},
                      {"from", RecoverFromName(r.from)}});
  }
  nlohmann::json data = {{"experiment", e.name},
                         {"file", e.path},
                         {"dry_run", dry_run},
                         {"targets", targets},
                         {"embedded", embedded},
                         {"kind", kind},
                         {"hypothesis", e.hypothesis},
                         {"roles", StringMap(e.roles)},
                         {"labels", StringMap(e.labels)},
                         {"owner", e.owner},
                         {"expect", expect}};
  if (kind == "Drill") data["speed"] = e.speed;
  return data;
}

}  // namespace

struct Runner::Active {
  std::string agent;  // plan agent name
  std::string kind;
  std::string group;
  std::string fault_id;
  std::string path;
  int phase = -1;
  bool reversible = true;
  bool unknown = false;  // Apply's outcome is unknown (deadline, unavailable)
};

struct Runner::Phase {
  int index = -1;  // -1: the step's own fault id; k: "<id>.<k>"
  int count = 0;   // ramp: number of phases
  const char* mode = "";  // "", "ramp", "flap"
  const v1::FaultSpec* spec = nullptr;
  std::string summary;
  milliseconds duration{0};
};

struct Runner::Gate {
  int64_t open_seq = -1;  // seq of this gate's "gate.waiting" event, once seen
  bool continued = false;
  std::string by;
};

Runner::Runner(const Experiment& experiment, JournalStore* store, StopSignal* stop,
               RunOptions options, EventCallback on_event)
    : experiment_(experiment),
      store_(store),
      stop_(stop),
      options_(std::move(options)),
      on_event_(std::move(on_event)) {}

Runner::~Runner() = default;

int64_t Runner::Record(const std::string& type, nlohmann::json data) {
  Event event;
  event.run_id = run_id_;
  event.unix_ms = NowUnixMs();
  event.type = type;
  event.data = std::move(data);
  // Not under record_mu_: the store is thread-safe and commits concurrent
  // appends together (group commit), which is what keeps a 200-agent fan-out
  // from waiting on 400 fsyncs one after another.
  absl::Status status = store_->Append(run_id_, type, event.data);
  std::lock_guard lock(record_mu_);
  if (!status.ok() && !journal_failed_) {
    // A run we cannot record is a run nobody can review: stop injecting.
    journal_failed_ = true;
    spdlog::error("journal write failed run={} error={}", run_id_, status.ToString());
    stop_->Stop(absl::StrCat("journal write failed: ", status.message()));
  }
  if (on_event_) on_event_(event);
  return event.unix_ms;
}

void Runner::Abort(const std::string& reason, const std::string& condition, TimePoint triggered,
                   nlohmann::json extra) {
  {
    std::lock_guard lock(abort_mu_);
    if (!abort_reason_.empty()) {
      stop_->Stop(reason);
      return;
    }
    abort_reason_ = reason;
    abort_condition_ = condition;
    abort_triggered_ = triggered;
  }
  nlohmann::json data = {{"reason", reason},
                         {"condition", condition},
                         {"triggered_unix_ms", NowUnixMs() - MsBetween(triggered, SteadyClock::now())}};
  if (extra.is_object()) data.update(extra);
  Record("abort", std::move(data));
  stop_->Stop(reason);
}

void Runner::JournalCall(const AgentCallRecord& call, const std::string& identity) {
  if (call.rpc == "RenewLease") {
    // Renewals come every third of the lease TTL from every agent: the
    // journal keeps each agent's first one and every one that failed or
    // followed a failure; the agent's audit log has them all.
    std::lock_guard lock(renewals_mu_);
    bool& last_ok = renewal_ok_[call.agent];
    const bool first = renewal_seen_.insert(call.agent).second;
    const bool keep = first || !call.result.ok() || !last_ok;
    last_ok = call.result.ok();
    if (!keep) return;
  }
  nlohmann::json data = {{"agent", call.agent},
                         {"address", call.address},
                         {"rpc", call.rpc},
                         {"identity", identity},
                         {"code", CodeName(call.result)},
                         {"elapsed_ms", call.elapsed.count()}};
  if (!call.fault_id.empty()) data["fault_id"] = call.fault_id;
  if (!call.kind.empty()) data["kind"] = call.kind;
  if (call.dry_run) data["dry_run"] = true;
  if (!call.result.ok()) data["error"] = std::string(call.result.message());
  Record("agent.call", std::move(data));
}

bool Runner::PreflightFaults() {
  std::vector<PreflightResult> results = DryRunPlan(
      *plan_,
      [this](const std::string& agent) -> AgentClient* {
        return agent == kEmbeddedAgent ? nullptr : &ClientFor(agent);
      },
      static_cast<size_t>(std::max(1, options_.max_parallel_calls)));
  std::vector<std::string> refused;
  nlohmann::json hosts = nlohmann::json::object();
  for (const PreflightResult& result : results) {
    if (!IsRefusal(result.status)) continue;
    const std::string line = absl::StrCat(HostName(result.agent), " refuses ", result.kind, " (",
                                          result.fault_id, "): ", result.status.message());
    Record("agent.refused", {{"agent", result.agent},
                             {"fault_id", result.fault_id},
                             {"kind", result.kind},
                             {"code", CodeName(result.status)},
                             {"error", std::string(result.status.message())}});
    hosts[HostName(result.agent)] = line;
    refused.push_back(line);
  }
  if (refused.empty()) return true;
  Abort(absl::StrCat(refused.size() == 1 ? "a host refuses a fault" : "hosts refuse faults",
                     "; nothing was injected: ", absl::StrJoin(refused, "; ")),
        "agent.refused", SteadyClock::now(), {{"hosts", hosts}});
  return false;
}

std::string Runner::HostName(const std::string& agent) const {
  return agent == kEmbeddedAgent ? "local" : agent;
}

AgentClient& Runner::ClientFor(const std::string& agent) { return *clients_.at(agent); }

bool Runner::ConnectAgents() {
  const std::vector<std::string>& agents = plan_->agents;
  std::vector<std::string> failures(agents.size());
  FanOut(agents.size(), options_.max_parallel_calls, [&](size_t i) {
    AgentClient& client = ClientFor(agents[i]);
    auto caps = client.Connect();
    if (!caps.ok()) {
      failures[i] = absl::StrCat(client.name(), ": ", CodeName(caps.status()), ": ",
                                 caps.status().message());
      Record("agent.unreachable", {{"agent", client.name()},
                                   {"address", client.address()},
                                   {"error", std::string(caps.status().message())},
                                   {"code", CodeName(caps.status())}});
      return;
    }
    Record("agent.ready", {{"agent", client.name()},
                           {"address", client.address()},
                           {"version", caps->agent_version()},
                           {"hostname", caps->hostname()},
                           {"kernel", caps->kernel()}});
  });
  std::vector<std::string> failed;
  nlohmann::json hosts = nlohmann::json::object();
  for (size_t i = 0; i < agents.size(); ++i) {
    if (failures[i].empty()) continue;
    failed.push_back(failures[i]);
    hosts[HostName(agents[i])] = failures[i];
  }
  if (failed.empty()) return true;
  Abort(absl::StrCat(failed.size() == 1 ? "an agent is" : "agents are",
                     " unreachable; nothing was injected: ", absl::StrJoin(failed, "; ")),
        "agent.unreachable", SteadyClock::now(), {{"hosts", hosts}});
  return false;
}

bool Runner::CheckSteadyState(const std::string& phase) {
  bool held = true;
  for (const Probe& probe : experiment_.steady_state) {
    if (phase == "before" ? !probe.before : !probe.after) continue;
    // Tolerance: the probe holds if one of `failures` attempts passes.
    const int attempts = std::max(1, probe.failures);
    bool ok = false;
    for (int attempt = 1; attempt <= attempts && !ok; ++attempt) {
      if (attempt > 1 && stop_->WaitFor(probe.interval)) break;
      ProbeResult result = RunProbe(probe);
      ok = result.ok;
      nlohmann::json data = ProbeData(probe, phase, result);
      if (attempts > 1) {
        data["attempt"] = attempt;
        data["attempts"] = attempts;
      }
      Record("probe.result", std::move(data));
    }
    held = held && ok;
  }
  return held;
}

void Runner::DuringProbe(const Probe& probe) {
  std::vector<const AbortCondition*> conditions;
  for (const AbortCondition& c : experiment_.abort_when) {
    if (c.probe == probe.name) conditions.push_back(&c);
  }
  const int tolerance = std::max(1, probe.failures);
  int consecutive = 0;
  bool deviated = false;  // this failure streak has been reported
  TimePoint next = SteadyClock::now();
  while (!probes_stop_.stopped()) {
    if (probes_stop_.WaitFor(Until(next))) return;
    ProbeResult result = RunProbe(probe);
    const TimePoint at = SteadyClock::now();
    if (probes_stop_.stopped()) return;  // the method ended while it ran
    consecutive = result.ok ? 0 : consecutive + 1;
    nlohmann::json data = ProbeData(probe, "during", result);
    data["consecutive_failures"] = consecutive;
    Record("probe.result", std::move(data));
    if (result.ok) {
      deviated = false;
    } else if (!deviated && consecutive >= tolerance) {
      deviated = true;
      {
        std::lock_guard lock(deviation_mu_);
        deviated_probes_.insert(probe.name);
      }
      Record("probe.deviated", {{"probe", probe.name},
                                {"consecutive_failures", consecutive},
                                {"failures", tolerance},
                                {"error", result.error}});
    }
    for (const AbortCondition* c : conditions) {
      if (consecutive != c->failures) continue;
      Abort(absl::StrCat("abort_when: probe ", probe.name, " failed ", c->failures,
                         c->failures == 1 ? " time" : " times in a row"),
            "abort_when", at,
            {{"probe", probe.name}, {"failures", c->failures}, {"error", result.error}});
    }
    next += probe.interval;
    if (next < SteadyClock::now()) next = SteadyClock::now();
  }
}

void Runner::ControlLoop() {
  int64_t last_seq = 0;
  bool stop_handled = false;
  while (!control_stop_.stopped()) {
    if (stop_handled) {
      control_stop_.WaitFor(std::chrono::hours(1));
      continue;
    }
    if (stop_->WaitFor(options_.control_poll)) {
      // Whatever stopped the run (Ctrl-C, an abort, a failed step): revert
      // now, while the steps unwind; Run() reverts again once they have.
      stop_handled = true;
      std::string reason = stop_->reason();
      Abort(reason.empty() ? "stopped" : reason, "stop", SteadyClock::now());
      probes_stop_.Stop("run stopped");
      {
        std::lock_guard lock(gate_mu_);
        gates_cancelled_ = true;
      }
      gate_cv_.notify_all();
      RevertAll("abort");
      continue;
    }
    auto events = store_->Events(run_id_, last_seq);
    if (!events.ok()) {
      spdlog::warn("journal poll failed run={} error={}", run_id_, events.status().ToString());
      continue;
    }
    for (const Event& e : *events) {
      if (e.seq <= last_seq) continue;
      last_seq = e.seq;
      if (e.type == kEventAbortRequested) {
        std::string by = e.data.is_object() ? e.data.value("by", "") : "";
        std::string why = e.data.is_object() ? e.data.value("reason", "") : "";
        // The request's own time is when the condition became true.
        TimePoint at = SteadyClock::now() - milliseconds(std::max<int64_t>(0, NowUnixMs() - e.unix_ms));
        Abort(absl::StrCat("abort requested", by.empty() ? "" : " by " + by,
                           why.empty() ? "" : ": " + why),
              "external", at, {{"by", by}, {"requested_seq", e.seq}});
      } else if (e.type == "gate.waiting" || e.type == kEventContinue) {
        std::string path = e.data.is_object() ? e.data.value("path", "") : "";
        std::string gate = e.data.is_object() ? e.data.value("gate", "") : "";
        std::lock_guard lock(gate_mu_);
        if (e.type == "gate.waiting") {
          auto it = gates_.find(path);
          if (it != gates_.end() && it->second->open_seq < 0) it->second->open_seq = e.seq;
          continue;
        }
        bool opened = false;
        for (auto& [gate_path, g] : gates_) {
          if (g->open_seq < 0 || g->continued || e.seq <= g->open_seq) continue;
          if (!gate.empty() && gate != gate_path) continue;
          g->continued = true;
          g->by = e.data.is_object() ? e.data.value("by", "") : "";
          opened = true;
        }
        if (opened) gate_cv_.notify_all();
      }
    }
  }
}

void Runner::RenewLease(const std::string& agent) {
  AgentClient& client = ClientFor(agent);
  TimePoint last_ok = SteadyClock::now();
  const milliseconds period = std::max(milliseconds(100), options_.lease_ttl / 3);
  while (!lease_stop_.WaitFor(period)) {
    auto renewed = client.RenewLease(run_id_, options_.lease_ttl);
    if (renewed.ok()) {
      last_ok = SteadyClock::now();
      continue;
    }
    bool expired = renewed.status().code() == absl::StatusCode::kFailedPrecondition ||
                   SteadyClock::now() - last_ok > options_.lease_ttl;
    spdlog::warn("lease renewal failed run={} agent={} error={}", run_id_, client.name(),
                 renewed.status().ToString());
    if (expired) {
      Record("lease.lost", {{"agent", client.name()},
                            {"error", std::string(renewed.status().message())}});
      Abort(absl::StrCat("lease lost on ", client.name()), "lease.lost", SteadyClock::now(),
            {{"agent", client.name()}});
      return;
    }
  }
}

bool Runner::RunSteps(const std::vector<PlannedStep>& steps) {
  for (const PlannedStep& step : steps) {
    if (!RunStep(step)) return false;
  }
  return true;
}

bool Runner::RunStep(const PlannedStep& step) {
  if (stop_->stopped()) return false;
  const Step& spec = *step.step;
  Record("step.started", {{"index", step.path},
                          {"path", step.path},
                          {"kind", StepKindName(spec.kind)},
                          {"label", spec.label}});
  switch (spec.kind) {
    case StepKind::kFault:
      return RunFaultStep(step);
    case StepKind::kWait:
      if (options_.dry_run) return true;
      if (stop_->WaitFor(spec.duration)) return false;
      Record("wait.finished", {{"path", step.path}, {"duration_ms", spec.duration.count()}});
      return true;
    case StepKind::kSerial:
      return RunSteps(step.children);
    case StepKind::kParallel:
      return RunParallel(step);
    case StepKind::kPause:
      return RunPause(step);
  }
  return true;
}

bool Runner::RunParallel(const PlannedStep& step) {
  std::vector<char> ok(step.children.size(), 0);
  std::vector<std::thread> branches;
  branches.reserve(step.children.size());
  for (size_t i = 0; i < step.children.size(); ++i) {
    branches.emplace_back([this, &step, &ok, i] { ok[i] = RunStep(step.children[i]) ? 1 : 0; });
  }
  for (std::thread& t : branches) t.join();
  bool all = std::all_of(ok.begin(), ok.end(), [](char c) { return c != 0; });
  if (!all && !stop_->stopped()) {
    // Every failing path aborts already; this keeps "one fails, all stop" true.
    Abort(absl::StrCat("step ", step.path, " (parallel): a branch failed"), "step.failed",
          SteadyClock::now(), {{"path", step.path}});
  }
  return all && !stop_->stopped();
}

bool Runner::RunPause(const PlannedStep& step) {
  const Step& spec = *step.step;
  const char* on_timeout = spec.on_timeout == PauseTimeout::kAbort ? "abort" : "continue";
  if (options_.dry_run) {
    Record("gate.skipped", {{"path", step.path}, {"message", spec.message}, {"reason", "dry run"}});
    return true;
  }
  Gate* gate = nullptr;
  {
    std::lock_guard lock(gate_mu_);
    auto& slot = gates_[step.path];
    slot = std::make_unique<Gate>();
    gate = slot.get();
  }
  const TimePoint opened = SteadyClock::now();
  Record("gate.waiting", {{"path", step.path},
                          {"message", spec.message},
                          {"timeout_ms", spec.duration.count()},
                          {"on_timeout", on_timeout},
                          {"continue_with", absl::StrCat("faultline continue ", run_id_)}});
  bool continued = false;
  std::string by;
  {
    std::unique_lock lock(gate_mu_);
    gate_cv_.wait_until(lock, opened + spec.duration,
                        [&] { return gate->continued || gates_cancelled_; });
    continued = gate->continued;
    by = gate->by;
  }
  if (continued) {
    Record("gate.continued", {{"path", step.path},
                              {"by", by},
                              {"waited_ms", MsBetween(opened, SteadyClock::now())}});
    return true;
  }
  if (stop_->stopped()) return false;
  Record("gate.timeout",
         {{"path", step.path}, {"timeout_ms", spec.duration.count()}, {"on_timeout", on_timeout}});
  if (spec.on_timeout == PauseTimeout::kContinue) return true;
  Abort(absl::StrCat("pause gate timed out (step ", step.path, " after ",
                     FormatDuration(spec.duration), ")"),
        "gate.timeout", SteadyClock::now(), {{"path", step.path}});
  return false;
}

bool Runner::ApplyOnHosts(const PlannedStep& step, const Phase& phase,
                          std::vector<std::string>* ids) {
  const Step& spec = *step.step;
  const size_t n = step.faults.size();
  std::vector<std::string> fault_ids(n);
  std::vector<absl::Status> errors(n);
  FanOut(n, options_.max_parallel_calls, [&](size_t i) {
    const PlannedFault& planned = step.faults[i];
    v1::ApplyRequest request = planned.request;
    if (phase.index >= 0) {
      const uint64_t grace = request.ttl_ms() > request.duration_ms()
                                 ? request.ttl_ms() - request.duration_ms()
                                 : 0;
      const uint64_t duration = static_cast<uint64_t>(std::max<int64_t>(1, phase.duration.count()));
      request.set_fault_id(absl::StrCat(planned.request.fault_id(), ".", phase.index));
      *request.mutable_spec() = *phase.spec;
      request.set_duration_ms(duration);
      request.set_ttl_ms(duration + grace);
    }
    fault_ids[i] = request.fault_id();
    if (stop_->stopped()) return;  // the big red stop injects nothing new
    AgentClient& client = ClientFor(planned.agent);
    Active active;
    active.agent = planned.agent;
    active.kind = spec.fault_kind;
    active.group = planned.group;
    active.fault_id = request.fault_id();
    active.path = step.path;
    active.phase = phase.index;
    auto response = client.Apply(request);
    nlohmann::json data = {{"fault_id", request.fault_id()},
                           {"kind", spec.fault_kind},
                           {"agent", client.name()},
                           {"step", step.path},
                           {"path", step.path}};
    if (phase.index >= 0) {
      data["phase"] = phase.index;
      if (phase.count > 0) data["phases"] = phase.count;
      data[phase.mode] = phase.mode == std::string("flap") ? nlohmann::json("on")
                                                           : nlohmann::json(spec.ramp->param);
    }
    if (!response.ok()) {
      errors[i] = response.status();
      const absl::StatusCode code = response.status().code();
      if (!options_.dry_run && (code == absl::StatusCode::kDeadlineExceeded ||
                                code == absl::StatusCode::kUnavailable ||
                                code == absl::StatusCode::kCancelled)) {
        // Outcome unknown: the agent may have applied it after we gave up.
        // Reverting an id the agent never applied succeeds, so track it.
        active.unknown = true;
        std::lock_guard lock(active_mu_);
        active_[active.fault_id] = active;
      }
      data["error"] = std::string(response.status().message());
      data["code"] = CodeName(response.status());
      Record("fault.failed", std::move(data));
      return;
    }
    const v1::FaultStatus& status = response->fault();
    if (!options_.dry_run) {
      active.reversible = status.reversible();
      {
        std::lock_guard lock(active_mu_);
        active_[active.fault_id] = active;
      }
      applied_count_.fetch_add(1);
      if (spec.fault_kind == "process.kill") killed_processes_ = true;
    }
    data["target"] = planned.group.empty() ? (spec.target.empty() ? "local" : spec.target)
                                           : planned.group;
    data["engine"] = status.engine();
    data["params"] = ToJson(request.spec());
    data["summary"] = phase.summary;
    data["duration_ms"] = phase.duration.count();
    data["resolved"] = status.target();
    const int64_t applied_ms =
        Record(options_.dry_run ? "fault.validated" : "fault.applied", std::move(data));
    if (watcher_ && !options_.dry_run) watcher_->FaultApplied(applied_ms);
  });
  *ids = fault_ids;

  std::vector<std::string> failed;
  nlohmann::json hosts = nlohmann::json::object();
  for (size_t i = 0; i < n; ++i) {
    if (errors[i].ok()) continue;
    const std::string host = HostName(step.faults[i].agent);
    failed.push_back(absl::StrCat(host, " (", CodeName(errors[i]), ": ", errors[i].message(), ")"));
    hosts[host] = absl::StrCat(CodeName(errors[i]), ": ", errors[i].message());
  }
  if (!failed.empty()) {
    Abort(absl::StrCat("step ", step.path, " (", spec.label, "): not applied on ",
                       absl::StrJoin(failed, "; ")),
          "fault.failed", SteadyClock::now(), {{"path", step.path}, {"hosts", hosts}});
    return false;
  }
  return !stop_->stopped();
}

void Runner::Observe(const std::vector<std::string>& ids) {
  std::map<std::string, std::set<std::string>> by_agent;
  std::map<std::string, std::string> paths;  // by fault id
  {
    std::lock_guard lock(active_mu_);
    for (const std::string& id : ids) {
      auto it = active_.find(id);
      if (it == active_.end()) continue;
      by_agent[it->second.agent].insert(id);
      paths[id] = it->second.path;
    }
  }
  std::vector<std::pair<std::string, std::set<std::string>>> work(by_agent.begin(), by_agent.end());
  FanOut(work.size(), options_.max_parallel_calls, [&](size_t i) {
    AgentClient& client = ClientFor(work[i].first);
    auto list = client.List(run_id_);
    if (!list.ok()) return;
    for (const v1::FaultStatus& s : list->faults()) {
      if (work[i].second.count(s.fault_id()) == 0) continue;
      Record("fault.observed", {{"fault_id", s.fault_id()},
                                {"agent", client.name()},
                                {"path", paths.at(s.fault_id())},
                                {"observed", Observed(s)}});
    }
  });
}

bool Runner::Hold(const std::vector<std::string>& ids, TimePoint end) {
  while (true) {
    milliseconds left = Until(end);
    if (left <= milliseconds(0)) return true;
    if (stop_->WaitFor(std::min(left, options_.observe_interval))) return false;
    if (SteadyClock::now() >= end) return true;
    Observe(ids);
  }
}

bool Runner::RunFaultStep(const PlannedStep& step) {
  const Step& spec = *step.step;
  if (spec.ramp && !spec.ramp->specs.empty()) return RunRamp(step);
  if (spec.flap && spec.flap->on > milliseconds(0)) return RunFlap(step);
  Phase phase;
  phase.spec = &spec.spec;
  phase.summary = spec.params_summary;
  phase.duration = spec.duration;
  std::vector<std::string> ids;
  if (!ApplyOnHosts(step, phase, &ids)) return false;
  if (options_.dry_run) return true;
  if (!Hold(ids, SteadyClock::now() + spec.duration)) return false;
  RevertFaults(ids, "duration");
  return true;
}

bool Runner::RunRamp(const PlannedStep& step) {
  const Step& spec = *step.step;
  const Ramp& ramp = *spec.ramp;
  const int64_t n = static_cast<int64_t>(ramp.specs.size());
  const TimePoint start = SteadyClock::now();
  std::vector<std::string> previous;
  for (int64_t k = 0; k < n; ++k) {
    const TimePoint phase_end = start + spec.duration * (k + 1) / n;
    // Revert before apply: two faults of a network kind cannot share an
    // interface, so phases never overlap (a gap of one round trip instead).
    if (!previous.empty()) {
      RevertFaults(previous, absl::StrCat("next ramp phase ", k + 1, "/", n));
    }
    Phase phase;
    phase.index = static_cast<int>(k);
    phase.count = static_cast<int>(n);
    phase.mode = "ramp";
    phase.spec = &ramp.specs[k];
    phase.summary = static_cast<size_t>(k) < ramp.summaries.size() ? ramp.summaries[k]
                                                                    : spec.params_summary;
    phase.duration = std::max(milliseconds(1), Until(phase_end));
    std::vector<std::string> ids;
    if (!ApplyOnHosts(step, phase, &ids)) return false;
    previous = std::move(ids);
    if (options_.dry_run) continue;  // every phase's spec is validated
    if (!Hold(previous, phase_end)) return false;
  }
  if (!options_.dry_run) RevertFaults(previous, "duration");
  return true;
}

bool Runner::RunFlap(const PlannedStep& step) {
  const Step& spec = *step.step;
  const Flap& flap = *spec.flap;
  const TimePoint start = SteadyClock::now();
  const TimePoint end = start + spec.duration;
  const milliseconds period = flap.on + flap.off;
  for (int64_t k = 0;; ++k) {
    const TimePoint on_start = start + period * k;
    if (on_start >= end) break;
    if (stop_->WaitFor(Until(on_start))) return false;
    const TimePoint on_end = std::min(on_start + flap.on, end);
    Phase phase;
    phase.index = static_cast<int>(k);
    phase.mode = "flap";
    phase.spec = &spec.spec;
    phase.summary = spec.params_summary;
    phase.duration = std::max(milliseconds(1), Until(on_end));
    std::vector<std::string> ids;
    if (!ApplyOnHosts(step, phase, &ids)) return false;
    if (options_.dry_run) return true;  // every cycle has the same spec
    if (!Hold(ids, on_end)) return false;
    const bool last = on_end >= end || period <= milliseconds(0);
    RevertFaults(ids, last ? "duration" : "flap off");
    if (last) break;
  }
  return !stop_->stopped();
}

void Runner::RevertOne(const Active& fault, const std::string& reason) {
  AgentClient& client = ClientFor(fault.agent);
  auto response = client.Revert(fault.fault_id);
  if (!response.ok()) {
    // The agent still holds its TTL and our lease; it will revert on its own,
    // but this run cannot claim to have left nothing behind.
    revert_failed_ = true;
    Record("fault.revert_failed", {{"fault_id", fault.fault_id},
                                   {"kind", fault.kind},
                                   {"agent", client.name()},
                                   {"path", fault.path},
                                   {"error", std::string(response.status().message())},
                                   {"code", CodeName(response.status())}});
    return;
  }
  nlohmann::json data = {
      {"fault_id", fault.fault_id},
      {"kind", fault.kind},
      {"agent", client.name()},
      {"path", fault.path},
      {"reason", response->was_active() ? reason
                 : response->fault().revert_reason().empty()
                     ? (fault.unknown ? "was not applied" : "already reverted by the agent")
                     : absl::StrCat(response->fault().revert_reason(), " (by the agent)")},
      {"reversible", fault.reversible},
      {"observed", Observed(response->fault())}};
  if (fault.phase >= 0) data["phase"] = fault.phase;
  const int64_t reverted_ms = Record("fault.reverted", std::move(data));
  if (watcher_) watcher_->FaultReverted(reverted_ms);
}

void Runner::RevertTaken(std::vector<Active> faults, const std::string& reason) {
  FanOut(faults.size(), options_.max_parallel_calls, [&](size_t i) {
    RevertOne(faults[i], reason);
    std::lock_guard lock(active_mu_);
    --reverts_in_flight_;
    reverts_cv_.notify_all();
  });
}

void Runner::WaitForReverts() {
  std::unique_lock lock(active_mu_);
  reverts_cv_.wait(lock, [this] { return reverts_in_flight_ == 0; });
}

void Runner::RevertFaults(const std::vector<std::string>& ids, const std::string& reason) {
  std::vector<Active> taken;
  {
    std::lock_guard lock(active_mu_);
    for (const std::string& id : ids) {
      auto it = active_.find(id);
      if (it == active_.end()) continue;
      taken.push_back(std::move(it->second));
      active_.erase(it);
    }
    reverts_in_flight_ += static_cast<int>(taken.size());
  }
  RevertTaken(std::move(taken), reason);
}

void Runner::RevertAll(const std::string& reason) {
  std::vector<Active> taken;
  {
    std::lock_guard lock(active_mu_);
    for (auto& [id, fault] : active_) taken.push_back(std::move(fault));
    active_.clear();
    reverts_in_flight_ += static_cast<int>(taken.size());
  }
  RevertTaken(std::move(taken), reason);
}

void Runner::RunRollback(bool injected, bool deviated, bool aborted) {
  const std::vector<RollbackAction>& actions = experiment_.rollback_actions;
  if (actions.empty()) return;
  const char* policy = RollbackPolicyName(experiment_.rollback_policy);
  std::string skip;
  if (options_.dry_run) {
    skip = "dry run";
  } else if (!injected) {
    skip = "the method never started";
  } else if (experiment_.rollback_policy == RollbackPolicy::kOnDeviation && !deviated &&
             !aborted) {
    skip = "steady state held";
  } else if (experiment_.rollback_policy == RollbackPolicy::kNeverForKills && killed_processes_) {
    skip = "processes were killed; their supervisor restores them";
  }
  if (!skip.empty()) {
    Record("rollback.skipped",
           {{"policy", policy}, {"reason", skip}, {"actions", static_cast<int>(actions.size())}});
    return;
  }
  for (size_t i = 0; i < actions.size(); ++i) {
    const RollbackAction& action = actions[i];
    const std::string name = action.name.empty() ? absl::StrCat("rollback[", i, "]") : action.name;
    ProbeResult result = RunAction(action);
    Record("rollback.action",
           {{"name", name},
            {"kind", action.kind == RollbackAction::Kind::kExec ? "exec" : "http"},
            {"policy", policy},
            {"ok", result.ok},
            {"latency_ms", static_cast<double>(result.latency.count()) / 1000.0},
            {"detail", result.detail},
            {"error", result.error}});
    if (!result.ok) failed_rollbacks_.push_back(absl::StrCat(name, " (", result.error, ")"));
  }
}

absl::StatusOr<RunOutcome> Runner::Run() {
  RunRecord record;
  record.run_id = options_.run_id;
  record.experiment = experiment_.name;
  record.experiment_path = experiment_.path;
  record.source_text = experiment_.source_text;
  record.kind = experiment_.kind;
  record.labels = experiment_.labels;  // `faultline runs --tag` filters on them
  record.controller_pid = getpid();
  record.dry_run = options_.dry_run;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  record.host = host;
  auto created = store_->CreateRun(record);
  if (!created.ok()) return created.status();
  run_id_ = created->run_id;

  RunOutcome outcome;
  outcome.run_id = run_id_;

  PlanOptions plan_options;
  plan_options.lease_ttl = options_.lease_ttl;
  plan_options.dry_run = options_.dry_run;
  plan_options.inventory = options_.inventory;
  plan_options.default_seed =
      options_.default_seed ? *options_.default_seed : RandomSeed();
  auto plan = MakePlan(experiment_, run_id_, plan_options);
  if (plan.ok() && plan->uses_embedded_agent && options_.embedded_address.empty()) {
    plan = absl::FailedPreconditionError(
        "the plan uses the embedded local agent but none was started");
  }
  const bool has_expectations =
      !experiment_.expect_detect.empty() || !experiment_.expect_recover.empty();
  if (plan.ok() && options_.alert_source == nullptr) {
    // A detect expectation with nowhere to look for alerts could never be
    // met: refuse before injecting anything.
    if (absl::Status standalone = CheckStandaloneAlertSource(experiment_); !standalone.ok()) {
      plan = absl::FailedPreconditionError(standalone.message());
    }
  }
  if (plan.ok() && has_expectations && !options_.dry_run) {
    AlertSource* source = options_.alert_source;
    if (!experiment_.alerts.alertmanager.empty()) {
      owned_alerts_ = std::make_unique<AlertmanagerSource>(experiment_.alerts.alertmanager);
      source = owned_alerts_.get();
    }
    watcher_ = std::make_unique<ExpectationWatcher>(
        experiment_, source,
        [this](const std::string& type, nlohmann::json data) { Record(type, std::move(data)); });
  }
  nlohmann::json targets = nlohmann::json::object();
  absl::StatusOr<AgentTls> agent_tls = AgentTls();
  if (plan.ok()) {
    agent_tls = AgentTls::Create(options_.inventory, options_.tls);
    if (!agent_tls.ok()) plan = agent_tls.status();
  }
  if (plan.ok()) {
    plan_ = &*plan;
    for (const PlannedAgent& agent : plan->hosts) {
      const bool embedded = agent.name == kEmbeddedAgent;
      const std::string& address = embedded ? options_.embedded_address : agent.address;
      clients_[agent.name] = std::make_unique<AgentClient>(
          HostName(agent.name), address, options_.rpc_deadline,
          embedded ? AgentTransport() : agent_tls->For(agent.name, address));
      clients_[agent.name]->set_call_observer(
          [this, identity = embedded || !agent_tls->enabled() ? std::string("plaintext")
                                                               : agent_tls->identity()](
              const AgentCallRecord& call) { JournalCall(call, identity); });
    }
    std::function<void(const std::vector<PlannedStep>&)> groups =
        [&](const std::vector<PlannedStep>& steps) {
          for (const PlannedStep& step : steps) {
            for (const PlannedFault& f : step.faults) {
              if (f.group.empty()) continue;
              nlohmann::json& hosts = targets[f.group];
              if (!hosts.is_array()) hosts = nlohmann::json::array();
              const std::string name = HostName(f.agent);
              if (std::find(hosts.begin(), hosts.end(), name) == hosts.end()) hosts.push_back(name);
            }
            groups(step.children);
          }
        };
    groups(plan->steps);
  }
  Record("run.started", RunStartedData(experiment_, options_.dry_run, targets,
                                        plan.ok() && plan->uses_embedded_agent));
  std::thread control([this] { ControlLoop(); });

  bool method_started = false;
  bool method_done = false;
  bool before_ok = false;
  bool during_deviated = false;
  bool after_ok = false;
  bool abort_reverted_recorded = false;
  ExpectationSummary expectations;
  if (!plan.ok()) {
    outcome.status = RunStatus::kFailed;
    outcome.exit_code = kExitInvalid;
    outcome.verdict = std::string(plan.status().message());
  } else {
    nlohmann::json faults = nlohmann::json::array();
    CollectFaults(plan->steps, [this](const std::string& a) { return HostName(a); }, &faults);
    nlohmann::json hosts = nlohmann::json::array();
    std::vector<std::string> agent_names;
    for (const PlannedAgent& agent : plan->hosts) {
      agent_names.push_back(HostName(agent.name));
      hosts.push_back({{"name", HostName(agent.name)},
                       {"address", agent.name == kEmbeddedAgent ? options_.embedded_address
                                                                : agent.address}});
    }
    Record("plan", {{"steps", static_cast<int>(plan->steps.size())},
                    {"agents", agent_names},
                    {"hosts", hosts},
                    {"seed", plan->seed},
                    {"max_targets", plan->max_targets},
                    {"duration_ms", plan->duration.count()},
                    {"faults", faults}});

    if (!ConnectAgents() || (!options_.dry_run && !PreflightFaults())) {
      // Abort() has recorded why; nothing was injected.
    } else if (!(before_ok = CheckSteadyState("before"))) {
      outcome.verdict = "steady state did not hold before the method; nothing was injected";
    } else if (!stop_->stopped()) {
      method_started = true;
      std::vector<std::thread> leases;
      std::vector<std::thread> probes;
      if (!options_.dry_run) {
        for (const std::string& agent : plan->agents) {
          leases.emplace_back([this, agent] { RenewLease(agent); });
        }
        for (const Probe& probe : experiment_.steady_state) {
          if (probe.during) probes.emplace_back([this, &probe] { DuringProbe(probe); });
        }
      }
      method_done = RunSteps(plan->steps) && !stop_->stopped();
      probes_stop_.Stop("method finished");
      for (std::thread& t : probes) t.join();
      RevertAll(stop_->stopped() ? "abort" : "end of method");
      WaitForReverts();  // including those the control thread started on an abort
      const TimePoint all_reverted = SteadyClock::now();
      // Leases are renewed until everything is reverted, then released.
      lease_stop_.Stop("method finished");
      for (std::thread& t : leases) t.join();
      {
        std::lock_guard lock(abort_mu_);
        if (!abort_reason_.empty()) {
          Record("abort.reverted",
                 {{"revert_ms", std::max<int64_t>(0, MsBetween(abort_triggered_, all_reverted))},
                  {"all_reverted", !revert_failed_}});
          abort_reverted_recorded = true;
        }
      }
      if (stop_->stopped()) method_done = false;
    }
    if (watcher_) {
      // Waits (bounded by each `within`; a stop ends it) for alerts to fire
      // and probes to recover, before the after probes judge the steady state.
      expectations = watcher_->Finish(stop_);
      if (stop_->stopped()) method_done = false;
    } else if (has_expectations && options_.dry_run) {
      Record("drill.skipped",
             {{"reason", "dry run"},
              {"expectations", static_cast<int>(experiment_.expect_detect.size() +
                                                experiment_.expect_recover.size())}});
    }
    {
      std::lock_guard lock(deviation_mu_);
      during_deviated = !deviated_probes_.empty();
    }
    // The steady state after the method decides only a run nobody stopped
    // and whose faults are all known to be gone.
    if (before_ok && method_done && !options_.dry_run && !stop_->stopped() && !revert_failed_) {
      after_ok = CheckSteadyState("after");
    }
  }
  control_stop_.Stop("run finished");
  control.join();

  std::string reason;
  std::string condition;
  {
    std::lock_guard lock(abort_mu_);
    reason = abort_reason_;
    condition = abort_condition_;
    if (!reason.empty() && method_started && !abort_reverted_recorded) {
      // Aborted after the method had already reverted everything.
      Record("abort.reverted", {{"revert_ms", 0}, {"all_reverted", !revert_failed_}});
    }
  }
  if (plan.ok()) {
    if (reason.empty() && stop_->stopped()) reason = stop_->reason();
    if (reason.empty() && revert_failed_) {
      reason = "a fault could not be confirmed reverted; its agent reverts it when the lease "
               "or TTL expires (see fault.revert_failed)";
    }
    if (reason.empty() && before_ok && !method_done) reason = "stopped";
    const bool aborted = !reason.empty();
    if (aborted) {
      Record("run.aborted", {{"reason", reason}});
      const bool failed = condition == "fault.failed" || condition == "agent.unreachable";
      outcome.status = failed ? RunStatus::kFailed : RunStatus::kAborted;
      outcome.exit_code = kExitAborted;
      outcome.verdict = absl::StrCat(failed ? "failed: " : "aborted: ", reason);
      if (condition == "fault.failed" && !revert_failed_) {
        absl::StrAppend(&outcome.verdict, "; every fault applied was reverted");
      }
    } else if (!before_ok) {
      outcome.status = RunStatus::kDeviated;
      outcome.exit_code = kExitDeviated;
    } else if (options_.dry_run) {
      outcome.status = RunStatus::kPassed;
      outcome.exit_code = kExitPassed;
      outcome.verdict = "dry run: every fault validated by its agent; nothing was applied";
    } else if (after_ok && !during_deviated && expectations.missed.empty()) {
      outcome.status = RunStatus::kPassed;
      outcome.exit_code = kExitPassed;
      outcome.verdict = "steady state held";
      if (!expectations.met.empty()) {
        absl::StrAppend(&outcome.verdict, "; ", absl::StrJoin(expectations.met, "; "));
      }
    } else {
      outcome.status = RunStatus::kDeviated;
      outcome.exit_code = kExitDeviated;
      std::vector<std::string> why;
      if (during_deviated) {
        std::lock_guard lock(deviation_mu_);
        why.push_back(absl::StrCat("during the method (",
                                   absl::StrJoin(deviated_probes_, ", "), ")"));
      }
      if (!after_ok) why.push_back("after the method");
      std::vector<std::string> parts;
      if (!why.empty()) {
        parts.push_back(absl::StrCat("steady state deviated ", absl::StrJoin(why, " and ")));
      }
      if (!expectations.missed.empty()) {
        parts.push_back(absl::StrCat(expectations.missed.size() == 1 ? "expectation missed: "
                                                                     : "expectations missed: ",
                                     absl::StrJoin(expectations.missed, "; ")));
      }
      outcome.verdict = absl::StrJoin(parts, "; ");
    }
    RunRollback(method_started, outcome.status == RunStatus::kDeviated, aborted);
    if (!failed_rollbacks_.empty()) {
      absl::StrAppend(&outcome.verdict, "; rollback failed: ",
                      absl::StrJoin(failed_rollbacks_, "; "));
      if (outcome.exit_code == kExitPassed) {
        // The system may not be restored: not a pass.
        outcome.status = RunStatus::kDeviated;
        outcome.exit_code = kExitDeviated;
      }
    }
  }
  Record("run.finished", {{"status", RunStatusName(outcome.status)},
                          {"exit_code", outcome.exit_code},
                          {"verdict", outcome.verdict}});
  absl::Status finished = store_->FinishRun(run_id_, outcome.status, outcome.exit_code);
  if (!finished.ok()) spdlog::error("journal finish failed run={} error={}", run_id_, finished.ToString());
  plan_ = nullptr;
  return outcome;
}

}  // namespace faultline::controller
