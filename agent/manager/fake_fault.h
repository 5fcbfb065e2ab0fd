// FakeFault: a Fault that touches nothing and records every call, for tests
// of FaultManager and the gRPC server. The "host" is FakeHost: a shared,
// thread-safe record of which fault ids are currently applied, what each
// call saw, and which calls should fail.
//
//   auto host = std::make_shared<FakeHost>();
//   FaultManager manager(options, &clock, MakeFakeFactory(host));
//   host->FailApply("f1", absl::PermissionDeniedError("no"));
//
// Kind, spec and validation come from the real FaultSpec oneof (KindName), so
// any kind works; the spec's content is not validated beyond "a kind is set".
#ifndef FAULTLINE_AGENT_MANAGER_FAKE_FAULT_H_
#define FAULTLINE_AGENT_MANAGER_FAKE_FAULT_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "agent/manager/fault_manager.h"
#include "common/status.h"

namespace faultline::agent {

// Shared between the test and every FakeFault it creates. Thread-safe.
class FakeHost {
 public:
  // Fault ids whose effect is on the fake host (Apply succeeded, no Revert since).
  std::set<std::string> applied() const {
    std::lock_guard lock(mu_);
    return applied_;
  }
  bool IsApplied(const std::string& id) const {
    std::lock_guard lock(mu_);
    return applied_.count(id) > 0;
  }
  // Every call as "<method> <id>", e.g. "prepare f1", "apply f1", "revert f1".
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int Count(const std::string& call) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const std::string& c : calls_) n += c == call;
    return n;
  }
  // The state passed to Restore() for `id` (crash recovery), if any.
  bool restored(const std::string& id, v1::RevertState* state) const {
    std::lock_guard lock(mu_);
    auto it = restored_.find(id);
    if (it == restored_.end()) return false;
    if (state != nullptr) *state = it->second;
    return true;
  }

  // Makes the named call fail for `id` ("*" = every id) until cleared with OK.
  void FailPrepare(const std::string& id, absl::Status s) { Set(&prepare_errors_, id, s); }
  void FailApply(const std::string& id, absl::Status s) { Set(&apply_errors_, id, s); }
  void FailRevert(const std::string& id, absl::Status s) { Set(&revert_errors_, id, s); }
  void FailFactory(const std::string& id, absl::Status s) { Set(&factory_errors_, id, s); }
  // Runs inside Apply() before the effect, e.g. to inspect the state file.
  void OnApply(std::function<void(const std::string& id)> hook) {
    std::lock_guard lock(mu_);
    on_apply_ = std::move(hook);
  }

  // --- used by FakeFault ---
  absl::Status Call(const std::string& method, const std::string& id) {
    std::function<void(const std::string&)> hook;
    {
      std::lock_guard lock(mu_);
      calls_.push_back(absl::StrCat(method, " ", id));
      if (method == "apply") hook = on_apply_;
    }
    if (hook) hook(id);
    std::lock_guard lock(mu_);
    const std::map<std::string, absl::Status>* errors = nullptr;
    if (method == "prepare") errors = &prepare_errors_;
    if (method == "apply") errors = &apply_errors_;
    if (method == "revert") errors = &revert_errors_;
    if (method == "make") errors = &factory_errors_;
    if (errors != nullptr) {
      for (const std::string& key : {id, std::string("*")}) {
        auto it = errors->find(key);
        if (it != errors->end() && !it->second.ok()) return it->second;
      }
    }
    if (method == "apply") applied_.insert(id);
    if (method == "revert") applied_.erase(id);
    return absl::OkStatus();
  }
  void Restored(const std::string& id, const v1::RevertState& state) {
    std::lock_guard lock(mu_);
    calls_.push_back(absl::StrCat("restore ", id));
    restored_[id] = state;
  }

 private:
  void Set(std::map<std::string, absl::Status>* errors, const std::string& id, absl::Status s) {
    std::lock_guard lock(mu_);
    (*errors)[id] = std::move(s);
  }

  mutable std::mutex mu_;
  std::set<std::string> applied_;
  std::vector<std::string> calls_;
  std::map<std::string, v1::RevertState> restored_;
  std::map<std::string, absl::Status> prepare_errors_, apply_errors_, revert_errors_,
      factory_errors_;
  std::function<void(const std::string&)> on_apply_;
};

class FakeFault final : public Fault {
 public:
  FakeFault(std::shared_ptr<FakeHost> host, std::string id, std::string kind)
      : host_(std::move(host)), id_(std::move(id)), kind_(std::move(kind)) {}

  absl::string_view kind() const override { return kind_; }
  std::string engine() const override { return "fake"; }
  bool reversible() const override { return kind_ != "process.kill"; }
  absl::Status Prepare() override {
    FL_RETURN_IF_ERROR(host_->Call("prepare", id_));
    state_.set_cgroup(absl::StrCat("faultline/", id_));
    return absl::OkStatus();
  }
  absl::Status Apply() override {
    FL_RETURN_IF_ERROR(host_->Call("apply", id_));
    ++applies_;
    v1::RevertState::Process* process = state_.add_processes();
    process->set_pid(4242);
    process->set_start_time(7);
    return absl::OkStatus();
  }
  absl::Status Revert() override { return host_->Call("revert", id_); }
  Observation Observe() override {
    return {{"fake_load_pct", 42.0}, {"applies", static_cast<double>(applies_)}};
  }
  v1::RevertState revert_state() const override { return state_; }
  void Restore(const v1::RevertState& state) override {
    state_ = state;
    host_->Restored(id_, state);
  }
  std::string target() const override { return absl::StrCat("fake ", id_); }

 private:
  std::shared_ptr<FakeHost> host_;
  std::string id_;
  std::string kind_;
  v1::RevertState state_;
  int applies_ = 0;
};

// A FaultFactory that builds FakeFaults on `host`. InvalidArgument for a spec
// without a kind (as MakeFault does); FailFactory() injects other errors.
inline FaultFactory MakeFakeFactory(std::shared_ptr<FakeHost> host) {
  return [host](const v1::FaultSpec& spec,
                const FaultContext& context) -> absl::StatusOr<std::unique_ptr<Fault>> {
    const std::string kind = KindName(spec);
    if (kind.empty()) return absl::InvalidArgumentError("fault spec names no fault kind");
    if (absl::Status s = host->Call("make", context.fault_id); !s.ok()) return s;
    return std::make_unique<FakeFault>(host, context.fault_id, kind);
  };
}

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_MANAGER_FAKE_FAULT_H_
