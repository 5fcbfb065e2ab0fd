#include "controller/drill/expectations.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/units.h"
#include "common/unix_time.h"
#include "spdlog/spdlog.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// "4.2s" / "850ms": measured figures in verdicts and reasons.
std::string Figure(int64_t ms) {
  if (ms < 1000) return absl::StrCat(ms, "ms");
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

bool Matches(const DetectExpectation& d, const FiringAlert& a) {
  auto name = a.labels.find("alertname");
  if (name == a.labels.end() || name->second != d.alert) return false;
  for (const auto& [k, v] : d.labels) {
    auto it = a.labels.find(k);
    if (it == a.labels.end() || it->second != v) return false;
  }
  return true;
}

const char* ReferenceName(RecoverFrom from) {
  return from == RecoverFrom::kLastRevert ? "last revert" : "first fault";
}

nlohmann::json LabelsJson(const std::map<std::string, std::string>& labels) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : labels) out[k] = v;
  return out;
}

}  // namespace

struct ExpectationWatcher::Detect {
  const DetectExpectation* spec = nullptr;
  bool resolved = false;
  int64_t ignored_starts_unix_ms = 0;  // a matching alert that predates the first fault
};

struct ExpectationWatcher::Recover {
  const RecoverExpectation* spec = nullptr;
  const Probe* probe = nullptr;  // null: no such steady_state probe
  bool resolved = false;
  bool sample_now = false;       // Finish() asks for a sample at the reference
  int64_t reference_unix_ms = 0;  // 0 until known
  bool failed_seen = false;       // a failing sample since the first fault
  int samples = 0;
  std::string last_error;
};

ExpectationWatcher::ExpectationWatcher(const Experiment& experiment, AlertSource* source,
                                       ExpectationRecordFn record, ExpectationProbeFn run_probe)
    : experiment_(experiment),
      source_(source),
      record_(std::move(record)),
      run_probe_(std::move(run_probe)) {
  for (const DetectExpectation& d : experiment_.expect_detect) {
    auto det = std::make_unique<Detect>();
    det->spec = &d;
    detects_.push_back(std::move(det));
  }
  for (const RecoverExpectation& r : experiment_.expect_recover) {
    auto rec = std::make_unique<Recover>();
    rec->spec = &r;
    for (const Probe& p : experiment_.steady_state) {
      if (p.name == r.probe) rec->probe = &p;
    }
    recovers_.push_back(std::move(rec));
  }
}

ExpectationWatcher::~ExpectationWatcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void ExpectationWatcher::FaultApplied(int64_t unix_ms) {
  std::lock_guard lock(mu_);
  if (first_fault_unix_ms_ != 0 || stopping_) return;
  first_fault_unix_ms_ = unix_ms;
  if (!detects_.empty()) threads_.emplace_back([this] { DetectLoop(); });
  for (auto& r : recovers_) {
    if (r->spec->from == RecoverFrom::kFirstFault) r->reference_unix_ms = unix_ms;
    if (r->probe == nullptr) {
      MissLocked("recover", r->spec->probe, r->spec->within,
                 absl::StrCat("no steady_state probe is named ", r->spec->probe));
      r->resolved = true;
      continue;
    }
    Recover* raw = r.get();
    threads_.emplace_back([this, raw] { RecoverLoop(raw); });
  }
}

void ExpectationWatcher::FaultReverted(int64_t unix_ms) {
  std::lock_guard lock(mu_);
  last_revert_unix_ms_ = std::max(last_revert_unix_ms_, unix_ms);
}

void ExpectationWatcher::MissLocked(const std::string& expectation, const std::string& name,
                                    milliseconds within, const std::string& reason) {
  record_("drill.missed", {{"expectation", expectation},
                           {expectation == "detect" ? "alert" : "probe", name},
                           {"within_ms", within.count()},
                           {"reason", reason}});
  summary_.missed.push_back(
      absl::StrCat(expectation, " ", name, " within ", FormatDuration(within), " (", reason, ")"));
  cv_.notify_all();
}

bool ExpectationWatcher::AllResolvedLocked() const {
  for (const auto& d : detects_) {
    if (!d->resolved) return false;
  }
  for (const auto& r : recovers_) {
    if (!r->resolved) return false;
  }
  return true;
}

void ExpectationWatcher::DetectLoop() {
  const milliseconds poll = std::max(milliseconds(100), experiment_.alerts.poll);
  const std::string source_name = source_ != nullptr ? source_->Describe() : "none";
  std::string last_error;
  auto next = SteadyClock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    bool pending = std::any_of(detects_.begin(), detects_.end(),
                               [](const auto& d) { return !d->resolved; });
    if (!pending) return;
    if (cv_.wait_until(lock, next, [this] { return stopping_; })) return;
    const int64_t first_fault = first_fault_unix_ms_;
    lock.unlock();
    absl::StatusOr<std::vector<FiringAlert>> firing =
        source_ != nullptr ? source_->Firing()
                           : absl::FailedPreconditionError("no alert source configured");
    const int64_t polled = NowUnixMs();
    lock.lock();
    if (!firing.ok()) {
      if (last_error != firing.status().message()) {
        spdlog::warn("alert source poll failed source={} error={}", source_name,
                     firing.status().ToString());
      }
      last_error = std::string(firing.status().message());
    } else {
      last_error.clear();
    }
    for (auto& d : detects_) {
      if (d->resolved) continue;
      const DetectExpectation& spec = *d->spec;
      const int64_t deadline = first_fault + spec.within.count();
      const FiringAlert* hit = nullptr;
      if (firing.ok()) {
        for (const FiringAlert& a : *firing) {
          if (!Matches(spec, a)) continue;
          if (a.starts_at_unix_ms > 0 && a.starts_at_unix_ms < first_fault) {
            d->ignored_starts_unix_ms = a.starts_at_unix_ms;  // pre-existing
            continue;
          }
          hit = &a;
          break;
        }
      }
      if (hit != nullptr) {
        const int64_t seen = hit->received_unix_ms >= first_fault ? hit->received_unix_ms : polled;
        const int64_t ttd = seen - first_fault;
        if (seen > deadline) {
          MissLocked("detect", spec.alert, spec.within,
                     absl::StrCat("first seen firing ", Figure(ttd), " after the first fault"));
          d->resolved = true;
          continue;
        }
        nlohmann::json data = {{"alert", spec.alert},
                               {"labels", LabelsJson(hit->labels)},
                               {"within_ms", spec.within.count()},
                               {"time_to_detect_ms", ttd},
                               {"first_fault_unix_ms", first_fault},
                               {"seen_unix_ms", seen},
                               {"source", source_name}};
        if (hit->starts_at_unix_ms > 0) {
          data["alert_starts_unix_ms"] = hit->starts_at_unix_ms;
          data["time_to_fire_ms"] = hit->starts_at_unix_ms - first_fault;
        }
        record_("drill.detected", std::move(data));
        summary_.met.push_back(absl::StrCat(spec.alert, " detected after ", Figure(ttd)));
        d->resolved = true;
        cv_.notify_all();
        continue;
      }
      if (polled > deadline) {
        std::string reason;
        if (!last_error.empty()) {
          reason = absl::StrCat("alerts could not be read: ", last_error);
        } else if (d->ignored_starts_unix_ms > 0) {
          reason = absl::StrCat(spec.alert, " was already firing before the first fault (",
                                "startsAt ", Figure(first_fault - d->ignored_starts_unix_ms),
                                " earlier) and did not fire anew");
        } else {
          reason = absl::StrCat(spec.alert, " did not fire");
        }
        MissLocked("detect", spec.alert, spec.within, reason);
        d->resolved = true;
      }
    }
    next += poll;
    if (next < SteadyClock::now()) next = SteadyClock::now();
  }
}

void ExpectationWatcher::RecoverLoop(Recover* r) {
  const Probe& probe = *r->probe;
  const milliseconds interval =
      std::max(milliseconds(100), std::min(probe.interval, experiment_.alerts.poll));
  const RecoverExpectation& spec = *r->spec;
  auto next = SteadyClock::now();
  std::unique_lock lock(mu_);
  while (!stopping_ && !r->resolved) {
    cv_.wait_until(lock, next, [&] { return stopping_ || r->sample_now; });
    if (stopping_) return;
    if (!r->sample_now && SteadyClock::now() < next) continue;
    r->sample_now = false;
    const int64_t first_fault = first_fault_unix_ms_;
    lock.unlock();
    const int64_t at = NowUnixMs();
    ProbeResult result = run_probe_(probe);
    nlohmann::json data = {{"probe", probe.name},
                           {"kind", ProbeKindName(probe.kind)},
                           {"phase", "recover"},
                           {"ok", result.ok},
                           {"at_unix_ms", at},
                           {"latency_ms", static_cast<double>(result.latency.count()) / 1000.0},
                           {"detail", result.detail},
                           {"error", result.error}};
    if (result.value.has_value()) data["value"] = *result.value;
    record_("probe.result", std::move(data));
    lock.lock();
    if (r->resolved || stopping_) return;  // Finish() gave up on it meanwhile
    ++r->samples;
    if (!result.ok && at >= first_fault) {
      r->failed_seen = true;
      r->last_error = result.error;
    }
    const int64_t ref = r->reference_unix_ms;
    if (ref != 0) {
      const int64_t deadline = ref + spec.within.count();
      bool recovered = false;
      bool never = false;
      if (result.ok && at >= ref) {
        if (!r->failed_seen) {
          // last-revert: passed throughout. first-fault: only once the method
          // is over can "it never failed" be told from "not yet failed".
          never = spec.from == RecoverFrom::kLastRevert || method_over_;
          recovered = never;
        } else {
          recovered = true;
        }
      }
      if (recovered) {
        const int64_t ttr = never ? 0 : at - ref;
        if (!never && at > deadline) {
          MissLocked("recover", probe.name, spec.within,
                     absl::StrCat(probe.name, " passed again only ", Figure(ttr), " after the ",
                                  ReferenceName(spec.from)));
        } else {
          record_("drill.recovered", {{"probe", probe.name},
                                      {"within_ms", spec.within.count()},
                                      {"from", RecoverFromName(spec.from)},
                                      {"reference_unix_ms", ref},
                                      {"time_to_recover_ms", ttr},
                                      {"recovered_unix_ms", never ? ref : at},
                                      {"never_deviated", never},
                                      {"samples", r->samples}});
          summary_.met.push_back(
              never ? absl::StrCat(probe.name, " never deviated")
                    : absl::StrCat(probe.name, " recovered ", Figure(ttr), " after the ",
                                   ReferenceName(spec.from)));
          cv_.notify_all();
        }
        r->resolved = true;
        return;
      }
      // A first-fault probe that has passed throughout is not late: whether
      // it never deviated is decided once the method is over.
      const bool undecided = result.ok && !r->failed_seen && !method_over_;
      if (!undecided && NowUnixMs() > deadline) {
        MissLocked("recover", probe.name, spec.within,
                   absl::StrCat(probe.name, " still failing ", FormatDuration(spec.within),
                                " after the ", ReferenceName(spec.from),
                                r->last_error.empty() ? "" : ": " + r->last_error));
        r->resolved = true;
        return;
      }
    }
    next += interval;
    if (next < SteadyClock::now()) next = SteadyClock::now();
  }
}

ExpectationSummary ExpectationWatcher::Finish(StopSignal* stop) {
  std::unique_lock lock(mu_);
  method_over_ = true;
  if (first_fault_unix_ms_ == 0) {
    record_("drill.skipped",
            {{"reason", "no fault was applied"},
             {"expectations", static_cast<int>(detects_.size() + recovers_.size())}});
    return {};
  }
  const int64_t ref = last_revert_unix_ms_ != 0 ? last_revert_unix_ms_ : NowUnixMs();
  int64_t last_deadline = first_fault_unix_ms_;
  for (auto& d : detects_) {
    last_deadline = std::max(last_deadline, first_fault_unix_ms_ + d->spec->within.count());
  }
  for (auto& r : recovers_) {
    if (r->spec->from == RecoverFrom::kLastRevert) r->reference_unix_ms = ref;
    r->sample_now = true;
    last_deadline = std::max(last_deadline, r->reference_unix_ms + r->spec->within.count());
  }
  cv_.notify_all();
  // Each loop resolves its expectation by its deadline; the bound beyond it
  // covers one slow poll or probe (a probe timeout is at most 60 s).
  const int64_t give_up = last_deadline + 65000;
  std::string stopped_reason;
  while (!AllResolvedLocked()) {
    if (stop != nullptr && stop->stopped()) {
      stopped_reason = "the run was stopped before the expectation was met";
      break;
    }
    if (NowUnixMs() > give_up) {
      stopped_reason = "no result by the deadline (alert source or probe hung)";
      break;
    }
    cv_.wait_for(lock, milliseconds(100));
  }
  if (!stopped_reason.empty()) {
    for (auto& d : detects_) {
      if (d->resolved) continue;
      MissLocked("detect", d->spec->alert, d->spec->within, stopped_reason);
      d->resolved = true;
    }
    for (auto& r : recovers_) {
      if (r->resolved) continue;
      MissLocked("recover", r->spec->probe, r->spec->within, stopped_reason);
      r->resolved = true;
    }
  }
  stopping_ = true;
  cv_.notify_all();
  lock.unlock();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  lock.lock();
  return summary_;
}

}  // namespace faultline::controller
