#include "controller/spec/step_reader.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/units.h"
#include "controller/spec/fault_params.h"
#include "controller/spec/ramp.h"
#include "controller/spec/rules.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMaxStepDuration = std::chrono::hours(24);
constexpr milliseconds kMinFlapPhase{100};

constexpr const char* kStepKinds[] = {"fault", "wait", "parallel", "serial", "pause"};

std::string Steps(size_t n) { return absl::StrCat(n, n == 1 ? " step" : " steps"); }

class StepReader {
 public:
  StepReader(const DeclaredTargets& targets, Diagnostics* diagnostics)
      : targets_(targets), diagnostics_(diagnostics) {}

  // One step; nullopt if it (or a step inside it) has a problem.
  std::optional<Step> ReadStep(const YamlNode& node, const std::string& position,
                               bool in_parallel) {
    if (!ExpectMapping(node, position, diagnostics_)) return std::nullopt;
    std::vector<const YamlNode*> kind_keys;
    for (const auto& entry : node.entries) {
      const YamlNode& key = entry.first;  // a named variable: clang 14 (fuzz build)
                                          // cannot capture a structured binding
      if (!key.IsScalar()) continue;
      const bool is_kind =
          std::find_if(std::begin(kStepKinds), std::end(kStepKinds),
                       [&](const char* k) { return key.scalar == k; }) != std::end(kStepKinds);
      // A repeated key is reported as a duplicate by Fields, not as a second kind.
      const bool repeated = std::any_of(kind_keys.begin(), kind_keys.end(),
                                        [&](const YamlNode* k) { return k->scalar == key.scalar; });
      if (is_kind && !repeated) kind_keys.push_back(&key);
    }
    if (kind_keys.size() > 1) {
      diagnostics_->Add(kind_keys[1]->where,
                        absl::StrCat("method step has both \"", kind_keys[0]->scalar, "\" and \"",
                                     kind_keys[1]->scalar, "\"; use one per step"));
    }
    if (kind_keys.size() == 1) {
      const std::string& kind = kind_keys[0]->scalar;
      if (kind == "fault") return ReadFaultStep(node);
      if (kind == "wait") return ReadWaitStep(node);
      if (kind == "pause") return ReadPauseStep(node, in_parallel);
      return ReadBlock(node, kind, in_parallel);
    }
    // Not a single readable kind: report what can be said about the keys.
    Fields f(node, "method step", diagnostics_);
    for (const char* key : kStepKinds) f.Get(key);
    for (const char* key : {"target", "params", "duration", "ramp", "flap"}) f.Get(key);
    if (kind_keys.empty()) {
      diagnostics_->Add(node.where,
                        "method step needs one of fault, wait, parallel, serial or pause");
    }
    f.Finish();
    return std::nullopt;
  }

  // `node` must hold a "fault" key and no other step-kind key.
  std::optional<Step> ReadFault(const YamlNode& node, const std::string& position) {
    if (!ExpectMapping(node, position, diagnostics_)) return std::nullopt;
    return ReadFaultStep(node);
  }

 private:
  std::optional<Step> ReadWaitStep(const YamlNode& node) {
    Fields f(node, "wait step", diagnostics_);
    const YamlNode* wait = f.Get("wait");
    f.Finish();
    auto v = ReadDuration(*wait, "wait", milliseconds(1), kMaxStepDuration,
                          DurationRange(kMaxStepDuration), diagnostics_);
    if (!v) return std::nullopt;
    Step step;
    step.kind = StepKind::kWait;
    step.where = node.where;
    step.duration = *v;
    step.label = absl::StrCat("wait ", FormatDuration(*v));
    return step;
  }

  // parallel / serial.
  std::optional<Step> ReadBlock(const YamlNode& node, const std::string& kind, bool in_parallel) {
    const size_t before = diagnostics_->size();
    Fields f(node, absl::StrCat(kind, " step"), diagnostics_);
    const YamlNode* list = f.Get(kind);
    f.Finish();
    const bool parallel = kind == "parallel";
    Step step;
    step.kind = parallel ? StepKind::kParallel : StepKind::kSerial;
    step.where = node.where;
    if (ExpectSequence(*list, kind, diagnostics_)) {
      if (parallel && list->items.size() < 2) {
        diagnostics_->Add(list->where,
                          absl::StrCat("parallel must list at least 2 steps, got ",
                                       list->items.size(), " (a single step needs no parallel)"));
      } else if (list->items.empty()) {
        diagnostics_->Add(list->where, "serial must list at least one step");
      }
      for (size_t i = 0; i < list->items.size(); ++i) {
        std::optional<Step> child =
            ReadStep(list->items[i], absl::StrCat(kind, "[", i, "]"), in_parallel || parallel);
        if (child) step.steps.push_back(std::move(*child));
      }
    }
    if (diagnostics_->size() != before) return std::nullopt;
    step.label = absl::StrCat(kind, " (", Steps(step.steps.size()), ")");
    return step;
  }

  std::optional<Step> ReadPauseStep(const YamlNode& node, bool in_parallel) {
    const size_t before = diagnostics_->size();
    Fields f(node, "pause step", diagnostics_);
    const YamlNode* pause = f.Get("pause");
    f.Finish();
    if (in_parallel) {
      diagnostics_->Add(f.Key("pause")->where,
                        "pause cannot be used inside parallel: a gate holds the whole run, so put "
                        "it before or after the parallel block");
    }
    Step step;
    step.kind = StepKind::kPause;
    step.where = node.where;
    if (ExpectMapping(*pause, "pause", diagnostics_)) {
      Fields p(*pause, "pause", diagnostics_);
      if (const YamlNode* message = p.Get("message")) {
        if (auto v = ReadString(*message, "pause: message", diagnostics_)) step.message = *v;
      }
      if (const YamlNode* timeout = p.Require("timeout")) {
        if (auto v = ReadDuration(*timeout, "pause: timeout", milliseconds(1), kMaxStepDuration,
                                  DurationRange(kMaxStepDuration), diagnostics_)) {
          step.duration = *v;
        }
      }
      if (const YamlNode* on_timeout = p.Get("on_timeout")) {
        const std::string word = on_timeout->IsScalar() ? on_timeout->scalar : "";
        if (word == "abort") {
          step.on_timeout = PauseTimeout::kAbort;
        } else if (word == "continue") {
          step.on_timeout = PauseTimeout::kContinue;
        } else {
          diagnostics_->Add(on_timeout->where,
                            absl::StrCat("pause: on_timeout must be abort or continue, got ",
                                         Describe(*on_timeout)));
        }
      }
      p.Finish();
    }
    if (diagnostics_->size() != before) return std::nullopt;
    step.label = absl::StrCat("pause (timeout ", FormatDuration(step.duration), ")");
    return step;
  }

  std::optional<Step> ReadFaultStep(const YamlNode& node) {
    // Callers make sure `node` is a mapping with a "fault" key.
    const size_t before = diagnostics_->size();
    const YamlNode* fault = nullptr;
    for (const auto& [key, value] : node.entries) {
      if (key.IsScalar() && key.scalar == "fault") {
        fault = &value;
        break;
      }
    }
    std::optional<std::string> kind = ReadString(*fault, "fault", diagnostics_);
    bool known_kind = false;
    if (kind) {
      const std::vector<std::string>& supported = SupportedFaultKinds();
      known_kind = std::find(supported.begin(), supported.end(), *kind) != supported.end();
      if (!known_kind && IsLaterFaultKind(*kind)) {
        diagnostics_->Add(fault->where,
                          absl::StrCat("fault kind \"", *kind,
                                       "\" is not supported yet by this version of faultline"));
      } else if (!known_kind) {
        diagnostics_->Add(fault->where,
                          absl::StrCat("unknown fault kind ", Describe(*fault),
                                       " (known: ", absl::StrJoin(supported, ", "), ")"));
      }
    }
    const std::string step_name = known_kind ? *kind : "fault";
    Fields f(node, absl::StrCat(step_name, " step"), diagnostics_);
    f.Get("fault");

    Step step;
    step.kind = StepKind::kFault;
    step.where = node.where;
    if (known_kind) step.fault_kind = *kind;
    if (const YamlNode* target = f.Get("target")) {
      ReadStepTargets(*target, &step.targets);
    } else if (targets_.declared && !targets_.names.empty()) {
      diagnostics_->Add(node.where, absl::StrCat("missing required field \"target\" in ",
                                                 f.context(), " (known: ", KnownTargets(), ")"));
    }
    if (const YamlNode* duration = f.Require("duration")) {
      if (auto v = ReadDuration(*duration, absl::StrCat(step_name, ": duration"), milliseconds(1),
                                kMaxStepDuration, DurationRange(kMaxStepDuration), diagnostics_)) {
        step.duration = *v;
      }
    }
    const YamlNode* ramp = f.Get("ramp");
    const YamlNode* flap = f.Get("flap");
    if (ramp && flap) {
      const YamlNode* ramp_key = f.Key("ramp");
      const YamlNode* flap_key = f.Key("flap");
      diagnostics_->Add(
          WrittenBefore(ramp_key->where, flap_key->where) ? flap_key->where : ramp_key->where,
          absl::StrCat("ramp and flap cannot be used together in ", f.context(), "; use one"));
      ramp = nullptr;
      flap = nullptr;
    }
    if (const YamlNode* params = f.Require("params")) {
      if (known_kind && ExpectMapping(*params, absl::StrCat(step_name, " params"), diagnostics_)) {
        if (std::optional<StepParams> p =
                ReadStepParams(*kind, *params, ramp, step.duration, diagnostics_)) {
          step.spec = std::move(p->spec);
          step.params_summary = std::move(p->summary);
          step.ramp = std::move(p->ramp);
        }
      }
    }
    if (flap && known_kind) ReadFlap(*flap, *kind, &step);
    f.Finish();
    if (diagnostics_->size() != before) return std::nullopt;
    if (!step.targets.empty()) step.target = step.targets.front();
    step.label = step.targets.empty()
                     ? step.fault_kind
                     : absl::StrCat(step.fault_kind, " on ", absl::StrJoin(step.targets, ", "));
    return step;
  }

  // `target`: one name or a list of distinct names, each declared in targets.
  void ReadStepTargets(const YamlNode& node, std::vector<std::string>* out) {
    std::vector<std::pair<const YamlNode*, std::string>> names;
    if (node.IsScalar()) {
      names.emplace_back(&node, "target");
    } else if (node.IsSequence()) {
      if (node.items.empty()) {
        diagnostics_->Add(node.where,
                          targets_.names.empty()
                              ? std::string("target must list at least one target (omit target "
                                            "to use the embedded local agent)")
                              : absl::StrCat("target must list at least one target (known: ",
                                             KnownTargets(), ")"));
      }
      for (size_t i = 0; i < node.items.size(); ++i) {
        names.emplace_back(&node.items[i], absl::StrCat("target[", i, "]"));
      }
    } else {
      diagnostics_->Add(node.where, absl::StrCat("target must be a target name or a list of "
                                                 "target names, got ",
                                                 Describe(node)));
      return;
    }
    for (const auto& [item, field] : names) {
      std::optional<std::string> v = ReadString(*item, field, diagnostics_);
      if (!v) continue;
      if (!targets_.declared) {
        diagnostics_->Add(item->where,
                          absl::StrCat("unknown target ", Describe(*item),
                                       " (no targets are defined; remove target to use the "
                                       "embedded local agent)"));
      } else if (!targets_.names.count(*v)) {
        diagnostics_->Add(item->where, absl::StrCat("unknown target ", Describe(*item),
                                                    " (known: ", KnownTargets(), ")"));
      } else if (std::find(out->begin(), out->end(), *v) != out->end()) {
        diagnostics_->Add(item->where, absl::StrCat("target lists \"", *v, "\" more than once"));
      } else {
        out->push_back(*v);
      }
    }
  }

  void ReadFlap(const YamlNode& node, const std::string& kind, Step* step) {
    if (kind == "process.kill") {
      diagnostics_->Add(node.where,
                        "flap is not available for process.kill (a kill cannot be "
                        "scaled or switched off)");
      return;
    }
    const std::string field = absl::StrCat(kind, ": flap");
    if (!ExpectMapping(node, field, diagnostics_)) return;
    Fields f(node, absl::StrCat(kind, " flap"), diagnostics_);
    Flap flap;
    bool ok = true;
    for (const auto& [key, out] : {std::pair{"on", &flap.on}, std::pair{"off", &flap.off}}) {
      const YamlNode* value = f.Require(key);
      std::optional<milliseconds> v;
      if (value) {
        v = ReadDuration(*value, absl::StrCat(field, ".", key), kMinFlapPhase, kMaxStepDuration,
                         DurationBetween(kMinFlapPhase, kMaxStepDuration), diagnostics_);
      }
      if (v) {
        *out = *v;
      } else {
        ok = false;
      }
    }
    f.Finish();
    if (!ok) return;
    if (step->duration.count() > 0 && flap.on + flap.off > step->duration) {
      diagnostics_->Add(node.where, absl::StrCat(field, ".on (", FormatDuration(flap.on),
                                                 ") + flap.off (", FormatDuration(flap.off),
                                                 ") must not be longer than the step duration (",
                                                 FormatDuration(step->duration), ")"));
      return;
    }
    step->flap = flap;
  }

  std::string KnownTargets() const { return absl::StrJoin(targets_.names, ", "); }

  const DeclaredTargets& targets_;
  Diagnostics* diagnostics_;
};

}  // namespace

void ReadMethod(const YamlNode& node, const DeclaredTargets& targets, Diagnostics* diagnostics,
                std::vector<Step>* out) {
  if (!ExpectSequence(node, "method", diagnostics)) return;
  if (node.items.empty()) {
    diagnostics->Add(node.where, "method must have at least one step");
    return;
  }
  StepReader reader(targets, diagnostics);
  for (size_t i = 0; i < node.items.size(); ++i) {
    std::optional<Step> step =
        reader.ReadStep(node.items[i], absl::StrCat("method[", i, "]"), false);
    if (step) out->push_back(std::move(*step));
  }
}

std::optional<Step> ReadFaultStep(const YamlNode& node, const std::string& position,
                                  const DeclaredTargets& targets, Diagnostics* diagnostics) {
  StepReader reader(targets, diagnostics);
  return reader.ReadFault(node, position);
}

}  // namespace faultline::controller
