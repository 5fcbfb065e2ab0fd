#include "controller/spec/ramp.h"

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/units.h"
#include "controller/spec/fault_params.h"
#include "controller/spec/network_params.h"
#include "controller/spec/rules.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kMinSteps = 2;
constexpr int64_t kMaxSteps = 100;
constexpr milliseconds kMinSlice{100};

enum class Unit { kInteger, kNumber, kPercent, kMicros, kBytes, kBitRate };

// The rampable parameters. Ranges repeat the params readers' (fault_params.cc,
// network_params.cc) so from/to are reported as ramp.from/ramp.to; the
// readers still check every slice.
struct RampParam {
  const char* kind;
  const char* name;
  Unit unit;
  long double min;
  bool min_exclusive;
  long double max;
  const char* allowed;
};

constexpr RampParam kRampParams[] = {
    {"cpu.pressure", "load", Unit::kInteger, 1, false, 100, "an integer 1..100"},
    {"memory.pressure", "size", Unit::kBytes, 0, true, 18446744073709551615.0L,
     "a size greater than 0 such as 512Mi or 2Gi"},
    {"memory.pressure", "percent", Unit::kNumber, 0, true, 100,
     "a number greater than 0 and at most 100 (percent of MemTotal)"},
    {"network.delay", "delay", Unit::kMicros, 1, false, 60'000'000,
     "a duration of at least 1us and at most 60s such as 50ms"},
    {"network.delay", "jitter", Unit::kMicros, 0, false, 60'000'000,
     "a duration of at most 60s such as 10ms"},
    {"network.loss", "percent", Unit::kPercent, 0, true, 100,
     "a percentage greater than 0 and at most 100 such as 10 or \"10%\""},
    {"network.duplicate", "percent", Unit::kPercent, 0, true, 100,
     "a percentage greater than 0 and at most 100 such as 10 or \"10%\""},
    {"network.corrupt", "percent", Unit::kPercent, 0, true, 100,
     "a percentage greater than 0 and at most 100 such as 10 or \"10%\""},
    {"network.bandwidth", "rate", Unit::kBitRate, 8'000, false, 100'000'000'000,
     "a rate of at least 8kbit and at most 100gbit such as 500kbit, 10mbit or 1gbit"},
};

std::vector<const RampParam*> ParamsOf(absl::string_view kind) {
  std::vector<const RampParam*> out;
  for (const RampParam& p : kRampParams) {
    if (kind == p.kind) out.push_back(&p);
  }
  return out;
}

std::vector<std::string> NamesOf(const std::vector<const RampParam*>& params) {
  std::vector<std::string> names;
  for (const RampParam* p : params) names.push_back(p->name);
  return names;
}

const YamlNode* ValueOf(const YamlNode& mapping, absl::string_view key) {
  for (const auto& [k, v] : mapping.entries) {
    if (k.IsScalar() && k.scalar == key) return &v;
  }
  return nullptr;
}

// The value of `node` in the parameter's unit, before range checks.
std::optional<long double> ParseValue(const YamlNode& node, Unit unit) {
  if (!node.IsScalar()) return std::nullopt;
  absl::string_view text = absl::StripAsciiWhitespace(node.scalar);
  switch (unit) {
    case Unit::kInteger: {
      int64_t v = 0;
      if (!absl::SimpleAtoi(text, &v)) return std::nullopt;
      return static_cast<long double>(v);
    }
    case Unit::kPercent:
      if (absl::ConsumeSuffix(&text, "%")) text = absl::StripTrailingAsciiWhitespace(text);
      [[fallthrough]];
    case Unit::kNumber: {
      double v = 0;
      if (text.empty() || !absl::SimpleAtod(text, &v) || !std::isfinite(v)) return std::nullopt;
      return static_cast<long double>(v);
    }
    case Unit::kMicros: {
      if (text == "0") return 0.0L;
      if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
      absl::Duration d;
      if (!absl::ParseDuration(text, &d) || d == absl::InfiniteDuration() ||
          d < absl::ZeroDuration()) {
        return std::nullopt;
      }
      return static_cast<long double>(absl::ToInt64Microseconds(d));
    }
    case Unit::kBytes: {
      absl::StatusOr<uint64_t> v = ParseBytes(text);
      if (!v.ok()) return std::nullopt;
      return static_cast<long double>(*v);
    }
    case Unit::kBitRate: {
      std::optional<uint64_t> v = ParseBitRate(text);
      if (!v) return std::nullopt;
      return static_cast<long double>(*v);
    }
  }
  return std::nullopt;
}

bool IsWhole(Unit unit) { return unit != Unit::kNumber && unit != Unit::kPercent; }

// The text the params reader parses back to exactly `value`.
std::string ValueText(long double value, Unit unit) {
  switch (unit) {
    case Unit::kInteger: return absl::StrCat(static_cast<int64_t>(value));
    case Unit::kNumber:
    case Unit::kPercent: return absl::StrCat(static_cast<double>(value));
    case Unit::kMicros: return absl::StrCat(static_cast<uint64_t>(value), "us");
    case Unit::kBytes: return absl::StrCat(static_cast<uint64_t>(value));
    case Unit::kBitRate: return absl::StrCat(static_cast<uint64_t>(value), "bit");
  }
  return "";
}

// `value` as people read it in messages.
std::string Pretty(long double value, Unit unit) {
  switch (unit) {
    case Unit::kInteger:
    case Unit::kNumber: return absl::StrCat(static_cast<double>(value));
    case Unit::kPercent: return absl::StrCat(static_cast<double>(value), "%");
    case Unit::kMicros: return FormatMicroseconds(static_cast<uint64_t>(value));
    case Unit::kBytes: return FormatBytes(static_cast<uint64_t>(value));
    case Unit::kBitRate: return FormatBitRate(static_cast<uint64_t>(value));
  }
  return "";
}

// The "name=value" part of a summary, or "".
std::string SummaryPart(const std::string& summary, absl::string_view name) {
  const std::string prefix = absl::StrCat(name, "=");
  for (absl::string_view part : absl::StrSplit(summary, ' ')) {
    if (absl::StartsWith(part, prefix)) return std::string(part);
  }
  return "";
}

// `params` with `name` set to `value` (replaced, or added at the end).
YamlNode WithParam(const YamlNode& params, absl::string_view name, const YamlNode& value) {
  YamlNode copy = params;
  for (auto& [k, v] : copy.entries) {
    if (k.IsScalar() && k.scalar == name) {
      v = value;
      return copy;
    }
  }
  YamlNode key;
  key.type = YamlNode::Type::kScalar;
  key.scalar = std::string(name);
  key.where = value.where;
  copy.entries.emplace_back(std::move(key), value);
  return copy;
}

std::optional<StepParams> Plain(absl::string_view kind, const YamlNode& params,
                                milliseconds duration, Diagnostics* diagnostics) {
  std::optional<FaultParams> p = ReadFaultParams(kind, params, duration, diagnostics);
  if (!p) return std::nullopt;
  return StepParams{.spec = std::move(p->spec), .summary = std::move(p->summary), .ramp = {}};
}

class RampReader {
 public:
  RampReader(absl::string_view kind, const YamlNode& params, const YamlNode& ramp,
             milliseconds duration, Diagnostics* diagnostics)
      : kind_(kind), params_(params), ramp_(ramp), duration_(duration), diagnostics_(diagnostics) {}

  std::optional<StepParams> Read() {
    if (std::string why = RampUnavailable(kind_); !why.empty()) {
      diagnostics_->Add(ramp_.where, std::move(why));
      return Plain(kind_, params_, duration_, diagnostics_);
    }
    if (!ExpectMapping(ramp_, Field("ramp"), diagnostics_)) {
      return Plain(kind_, params_, duration_, diagnostics_);
    }
    const size_t before = diagnostics_->size();
    ReadRampFields();
    if (diagnostics_->size() != before) {
      // Still check params, with the ramped parameter filled in when it was
      // left out for the ramp to set (else it would be "missing").
      if (param_ != nullptr && ValueOf(params_, param_->name) == nullptr) {
        const YamlNode* filler = from_ ? from_node_ : to_ ? to_node_ : nullptr;
        if (filler != nullptr) {
          ReadFaultParams(kind_, WithParam(params_, param_->name, *filler), duration_,
                          diagnostics_);
        }
        return std::nullopt;
      }
      Plain(kind_, params_, duration_, diagnostics_);
      return std::nullopt;
    }
    return BuildSlices();
  }

 private:
  std::string Field(absl::string_view name) const { return absl::StrCat(kind_, ": ", name); }

  void ReadRampFields() {
    Fields f(ramp_, absl::StrCat(kind_, " ramp"), diagnostics_);
    const std::vector<const RampParam*> candidates = ParamsOf(kind_);
    if (const YamlNode* name = f.Get("param")) {
      if (auto v = ReadString(*name, Field("ramp.param"), diagnostics_)) {
        for (const RampParam* p : candidates) {
          if (*v == p->name) param_ = p;
        }
        if (param_ == nullptr) {
          diagnostics_->Add(name->where,
                            absl::StrCat(Field("ramp.param"), " must be ",
                                         OrList(NamesOf(candidates)), ", got ", Describe(*name)));
        }
      }
    } else {
      param_ = candidates.front();
      // memory.pressure ramps whichever of size / percent its params use.
      if (kind_ == "memory.pressure" && ValueOf(params_, "percent") != nullptr) {
        param_ = candidates[1];
      }
    }
    if (const YamlNode* steps = f.Require("steps")) {
      if (auto v = ReadInt(*steps, Field("ramp.steps"), kMinSteps, kMaxSteps,
                           absl::StrCat("an integer ", kMinSteps, "..", kMaxSteps), diagnostics_)) {
        steps_ = static_cast<int>(*v);
        const milliseconds slice = duration_ / steps_;
        if (duration_.count() > 0 && slice < kMinSlice) {
          diagnostics_->Add(
              steps->where,
              absl::StrCat(Field("ramp.steps"), " ", steps_, " would make each slice ",
                           FormatDuration(slice), " long; a slice must last at least ",
                           FormatDuration(kMinSlice), " (the step lasts ",
                           FormatDuration(duration_), ")"));
        }
      }
    }
    from_node_ = f.Require("from");
    to_node_ = f.Require("to");
    if (param_ != nullptr) {
      if (from_node_) from_ = Endpoint(*from_node_, "ramp.from");
      if (to_node_) to_ = Endpoint(*to_node_, "ramp.to");
      if (from_ && to_ && *from_ == *to_) {
        diagnostics_->Add(to_node_->where,
                          absl::StrCat(Field("ramp.to"), " must differ from ramp.from (",
                                       Pretty(*from_, param_->unit), "); for a constant ",
                                       param_->name, " leave ramp out"));
      }
    }
    f.Finish();
  }

  std::optional<long double> Endpoint(const YamlNode& node, absl::string_view name) {
    std::optional<long double> v = ParseValue(node, param_->unit);
    if (v && (param_->min_exclusive ? *v > param_->min : *v >= param_->min) && *v <= param_->max) {
      return v;
    }
    diagnostics_->Add(node.where, absl::StrCat(Field(name), " must be a valid ", param_->name, ": ",
                                               param_->allowed, ", got ", Describe(node)));
    return std::nullopt;
  }

  long double SliceValue(int i) const {
    if (i == 0) return *from_;
    if (i == steps_ - 1) return *to_;
    const long double v = *from_ + (*to_ - *from_) * i / (steps_ - 1);
    return IsWhole(param_->unit) ? std::llround(v) : v;
  }

  std::optional<StepParams> BuildSlices() {
    const std::string name = param_->name;
    const YamlNode* written = ValueOf(params_, name);
    // The params as written are checked on their own first, so their
    // problems are reported plainly, at what to fix.
    std::optional<FaultParams> as_written;
    if (written != nullptr) {
      as_written = ReadFaultParams(kind_, params_, duration_, diagnostics_);
      if (!as_written) return std::nullopt;
    }
    Ramp ramp;
    ramp.param = name;
    for (int i = 0; i < steps_; ++i) {
      const long double value = SliceValue(i);
      // The first slice of a parameter left out of params is `from` itself,
      // at from's position; the others are synthetic values at the ramp.
      const bool from_as_written = i == 0 && written == nullptr;
      YamlNode node;
      if (from_as_written) {
        node = *from_node_;
      } else {
        node.type = YamlNode::Type::kScalar;
        node.where = ramp_.where;
        node.scalar = ValueText(value, param_->unit);
      }
      Diagnostics scratch;
      std::optional<FaultParams> p =
          ReadFaultParams(kind_, WithParam(params_, name, node), duration_, &scratch);
      if (!p) {
        for (const Diagnostic& d : scratch.list()) {
          // A problem elsewhere (jitter larger than the ramped delay) names
          // the slice that causes it.
          const bool at_from = from_as_written && d.where.line == node.where.line &&
                               d.where.column == node.where.column;
          diagnostics_->Add(
              d.where, at_from ? d.message
                               : absl::StrCat(d.message, " (in ramp slice ", i + 1, " of ", steps_,
                                              ", ", name, "=", Pretty(value, param_->unit), ")"));
        }
        return std::nullopt;
      }
      if (i == 0 && written != nullptr &&
          SummaryPart(as_written->summary, name) != SummaryPart(p->summary, name)) {
        diagnostics_->Add(
            written->where,
            absl::StrCat(Field(name), " in params (", written->scalar, ") differs from ramp.from (",
                         from_node_->scalar, "); the ramp sets ", name,
                         ", so leave it out of params or make them equal"));
        return std::nullopt;
      }
      ramp.specs.push_back(std::move(p->spec));
      ramp.summaries.push_back(std::move(p->summary));
    }
    StepParams out;
    out.spec = ramp.specs.front();
    out.summary = ramp.summaries.front();
    const std::string first = SummaryPart(ramp.summaries.front(), name);
    const std::string last = SummaryPart(ramp.summaries.back(), name);
    if (!first.empty() && !last.empty()) {
      // "delay=50ms" -> "delay=50ms..500ms steps=10", in place.
      const size_t at = absl::StrCat(" ", out.summary, " ").find(absl::StrCat(" ", first, " "));
      out.summary.replace(
          at, first.size(),
          absl::StrCat(first, "..", last.substr(name.size() + 1), " steps=", steps_));
    } else {
      absl::StrAppend(&out.summary, out.summary.empty() ? "" : " ", "ramp=", name,
                      " steps=", steps_);
    }
    out.ramp = std::move(ramp);
    return out;
  }

  std::string kind_;
  const YamlNode& params_;
  const YamlNode& ramp_;
  milliseconds duration_;
  Diagnostics* diagnostics_;
  const RampParam* param_ = nullptr;
  int steps_ = 0;
  const YamlNode* from_node_ = nullptr;
  const YamlNode* to_node_ = nullptr;
  std::optional<long double> from_;
  std::optional<long double> to_;
};

}  // namespace

std::string RampUnavailable(absl::string_view kind) {
  if (kind == "process.kill") {
    return "ramp is not available for process.kill (a kill cannot be scaled or switched off)";
  }
  if (ParamsOf(kind).empty()) {
    return absl::StrCat("ramp is not available for ", kind,
                        " (it has no magnitude to ramp; flap switches it on and off)");
  }
  return "";
}

std::optional<StepParams> ReadStepParams(absl::string_view kind, const YamlNode& params,
                                         const YamlNode* ramp, milliseconds duration,
                                         Diagnostics* diagnostics) {
  if (ramp == nullptr) return Plain(kind, params, duration, diagnostics);
  return RampReader(kind, params, *ramp, duration, diagnostics).Read();
}

}  // namespace faultline::controller
