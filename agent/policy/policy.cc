#include "agent/policy/policy.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/faults/fault_factory.h"
#include "common/units.h"

namespace faultline::agent {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr absl::string_view kCmdlinePrefix = "cmdline:";
// Longest entry of a string list (names, globs): keeps messages bounded.
constexpr size_t kMaxEntryLength = 256;

// "700ms", "1.5ms", "1m30s".
std::string FormatMicros(uint64_t us) {
  if (us % 1000 == 0 && us / 1000 <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return FormatDuration(milliseconds(static_cast<int64_t>(us / 1000)));
  }
  return absl::StrFormat("%gms", static_cast<double>(us) / 1000.0);
}

std::string FormatMillis(uint64_t ms) {
  if (ms > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::StrCat(ms, "ms");
  }
  return FormatDuration(milliseconds(static_cast<int64_t>(ms)));
}

std::string Pct(double value) { return absl::StrFormat("%g%%", value); }

// 2Gi when that is exact, else the byte count: a refusal must not round a
// size onto the limit.
std::string Bytes(uint64_t bytes) {
  std::string text = FormatBytes(bytes);
  absl::StatusOr<uint64_t> back = ParseBytes(text);
  if (back.ok() && *back == bytes) return text;
  return absl::StrCat(bytes, " bytes");
}

std::string FormatMemoryLimit(const MemoryLimit& limit) {
  if (limit.percent > 0) return absl::StrFormat("%g%% of MemTotal", limit.percent);
  return Bytes(limit.bytes);
}

std::string List(const std::vector<std::string>& items) {
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

absl::Status Refuse(absl::string_view rule, absl::string_view limit, absl::string_view what) {
  return absl::PermissionDeniedError(
      absl::StrCat("policy ", rule, " (", limit, ") refuses ", what));
}

// `value` within `limit`; NaN and infinities never are.
bool AtMost(double value, double limit) { return std::isfinite(value) && value <= limit; }

const v1::NetworkTarget* NetworkTargetOf(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kNetworkDelay: return &spec.network_delay().target();
    case v1::FaultSpec::kNetworkLoss: return &spec.network_loss().target();
    case v1::FaultSpec::kNetworkDuplicate: return &spec.network_duplicate().target();
    case v1::FaultSpec::kNetworkCorrupt: return &spec.network_corrupt().target();
    case v1::FaultSpec::kNetworkBandwidth: return &spec.network_bandwidth().target();
    case v1::FaultSpec::kNetworkPartition: return &spec.network_partition().target();
    default: return nullptr;
  }
}

const v1::ProcessTarget* ProcessTargetOf(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kProcessKill: return &spec.process_kill().target();
    case v1::FaultSpec::kProcessPause: return &spec.process_pause().target();
    default: return nullptr;
  }
}

// The long-run loss of a Gilbert-Elliott chain, in percent.
double AverageLoss(const v1::GilbertElliott& ge) {
  const double p = ge.p_pct();
  const double r = ge.r_pct();
  if (!(p > 0)) return ge.good_loss_pct();  // never leaves the good state
  if (!(r > 0)) return ge.bad_loss_pct();   // ends in the bad state for good
  return (p * ge.bad_loss_pct() + r * ge.good_loss_pct()) / (p + r);
}

absl::Status CheckMemory(const MemoryLimit& limit, uint64_t mem_total,
                         const v1::MemoryPressure& spec) {
  const std::string shown = FormatMemoryLimit(limit);
  if (spec.size_bytes() != 0) {
    const std::string what =
        absl::StrCat("memory.pressure of ", Bytes(spec.size_bytes()));
    if (limit.percent > 0) {
      if (mem_total == 0) return Refuse("max_memory", shown, absl::StrCat(what, " (MemTotal unknown)"));
      const double pct = 100.0 * static_cast<double>(spec.size_bytes()) /
                         static_cast<double>(mem_total);
      if (!AtMost(pct, limit.percent)) {
        return Refuse("max_memory", shown, absl::StrFormat("%s (%.4g%% of MemTotal)", what, pct));
      }
      return absl::OkStatus();
    }
    if (spec.size_bytes() > limit.bytes) return Refuse("max_memory", shown, what);
    return absl::OkStatus();
  }
  if (spec.percent() == 0) return absl::OkStatus();  // neither set: validation refuses it
  const std::string what = absl::StrCat("memory.pressure of ", Pct(spec.percent()), " of MemTotal");
  if (limit.percent > 0) {
    if (!AtMost(spec.percent(), limit.percent)) return Refuse("max_memory", shown, what);
    return absl::OkStatus();
  }
  if (mem_total == 0) return Refuse("max_memory", shown, absl::StrCat(what, " (MemTotal unknown)"));
  const double bytes = spec.percent() / 100.0 * static_cast<double>(mem_total);
  if (!AtMost(bytes, static_cast<double>(limit.bytes))) {
    // Only a finite value below 2^64 may be converted (anything else is UB).
    if (!(bytes >= 0 && bytes < 1.8e19)) return Refuse("max_memory", shown, what);
    return Refuse("max_memory", shown,
                  absl::StrCat(what, " (", Bytes(static_cast<uint64_t>(bytes)), ")"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Reading.

std::optional<std::vector<std::string>> ReadStringList(const YamlNode& node,
                                                       absl::string_view field,
                                                       Diagnostics* diagnostics) {
  if (!ExpectSequence(node, field, diagnostics)) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (const YamlNode& item : node.items) {
    std::optional<std::string> text = ReadString(item, field, diagnostics);
    if (!text.has_value()) {
      ok = false;
      continue;
    }
    if (text->empty() || text->size() > kMaxEntryLength) {
      diagnostics->Add(item.where, absl::StrCat(field, " entries must be 1..", kMaxEntryLength,
                                                " characters, got ", Describe(item)));
      ok = false;
      continue;
    }
    out.push_back(*std::move(text));
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<MemoryLimit> ReadMemoryLimit(const YamlNode& node, Diagnostics* diagnostics) {
  constexpr absl::string_view kField = "policy.max_memory";
  constexpr absl::string_view kAllowed = "a size such as 2Gi or 512Mi, or a percent of MemTotal "
                                         "such as 25%";
  if (node.IsScalar() && absl::EndsWith(node.scalar, "%")) {
    double pct = 0;
    const std::string number = node.scalar.substr(0, node.scalar.size() - 1);
    if (!absl::SimpleAtod(number, &pct) || !(pct > 0 && pct <= 100)) {
      diagnostics->Add(node.where, absl::StrCat(kField, " must be ", kAllowed,
                                                " (percent in (0, 100]), got ", Describe(node)));
      return std::nullopt;
    }
    return MemoryLimit{.bytes = 0, .percent = pct};
  }
  absl::StatusOr<uint64_t> bytes =
      node.IsScalar() ? ParseBytes(node.scalar) : absl::InvalidArgumentError("not a scalar");
  if (!bytes.ok() || *bytes == 0) {
    diagnostics->Add(node.where,
                     absl::StrCat(kField, " must be ", kAllowed, ", got ", Describe(node)));
    return std::nullopt;
  }
  return MemoryLimit{.bytes = *bytes, .percent = 0};
}

}  // namespace

bool GlobMatches(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

bool Policy::Unlimited() const {
  return !allowed_kinds.has_value() && !max_delay.has_value() && !max_loss_pct.has_value() &&
         !max_cpu_pct.has_value() && !max_memory.has_value() && !max_duration.has_value() &&
         !interfaces.has_value() && protected_processes.empty() &&
         !max_concurrent_faults.has_value();
}

absl::Status Policy::CheckRequest(const v1::ApplyRequest& request) const {
  const v1::FaultSpec& spec = request.spec();
  const std::string kind = KindName(spec);
  if (kind.empty()) return absl::OkStatus();

  if (allowed_kinds.has_value() &&
      std::none_of(allowed_kinds->begin(), allowed_kinds->end(),
                   [&](const std::string& glob) { return GlobMatches(glob, kind); })) {
    return Refuse("allowed_kinds", List(*allowed_kinds), kind);
  }

  if (max_duration.has_value()) {
    const uint64_t max_ms = static_cast<uint64_t>(std::max<int64_t>(max_duration->count(), 0));
    const std::string limit = FormatDuration(*max_duration);
    if (request.duration_ms() > max_ms) {
      return Refuse("max_duration", limit,
                    absl::StrCat(kind, " for ", FormatMillis(request.duration_ms())));
    }
    if (request.ttl_ms() > max_ms) {
      return Refuse("max_duration", limit,
                    absl::StrCat(kind, " with ttl ", FormatMillis(request.ttl_ms())));
    }
  }

  switch (spec.kind_case()) {
    case v1::FaultSpec::kNetworkDelay:
      if (max_delay.has_value()) {
        const v1::NetworkDelay& d = spec.network_delay();
        const uint64_t limit = static_cast<uint64_t>(std::max<int64_t>(max_delay->count(), 0));
        // Saturating: a hostile request must not wrap around below the limit.
        const uint64_t total = d.delay_us() > std::numeric_limits<uint64_t>::max() - d.jitter_us()
                                   ? std::numeric_limits<uint64_t>::max()
                                   : d.delay_us() + d.jitter_us();
        if (total > limit) {
          std::string what = absl::StrCat("network.delay of ", FormatMicros(total));
          if (d.jitter_us() != 0) {
            absl::StrAppend(&what, " (delay ", FormatMicros(d.delay_us()), " + jitter ",
                            FormatMicros(d.jitter_us()), ")");
          }
          return Refuse("max_delay", FormatMicros(limit), what);
        }
      }
      break;
    case v1::FaultSpec::kNetworkLoss:
      if (max_loss_pct.has_value()) {
        const v1::NetworkLoss& l = spec.network_loss();
        const bool ge = l.model() == v1::LOSS_MODEL_GILBERT_ELLIOTT;
        const double loss = ge ? AverageLoss(l.gilbert_elliott()) : l.percent();
        if (!AtMost(loss, *max_loss_pct)) {
          return Refuse("max_loss_pct", Pct(*max_loss_pct),
                        absl::StrCat("network.loss of ", Pct(loss),
                                     ge ? " (gilbert-elliott long-run average)" : ""));
        }
      }
      break;
    case v1::FaultSpec::kNetworkCorrupt:
      if (max_loss_pct.has_value() && !AtMost(spec.network_corrupt().percent(), *max_loss_pct)) {
        return Refuse("max_loss_pct", Pct(*max_loss_pct),
                      absl::StrCat("network.corrupt of ", Pct(spec.network_corrupt().percent()),
                                   " (a corrupt packet is a lost one)"));
      }
      break;
    case v1::FaultSpec::kCpuPressure:
      if (max_cpu_pct.has_value() &&
          !AtMost(static_cast<double>(spec.cpu_pressure().load_pct()), *max_cpu_pct)) {
        return Refuse("max_cpu_pct", Pct(*max_cpu_pct),
                      absl::StrCat("cpu.pressure load of ", spec.cpu_pressure().load_pct(), "%"));
      }
      break;
    case v1::FaultSpec::kMemoryPressure:
      if (max_memory.has_value()) {
        if (absl::Status s = CheckMemory(*max_memory, mem_total_bytes, spec.memory_pressure());
            !s.ok()) {
          return s;
        }
      }
      break;
    default:
      break;
  }

  if (const v1::NetworkTarget* target = NetworkTargetOf(spec);
      target != nullptr && interfaces.has_value()) {
    if (target->interface().empty()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "policy interfaces (", List(*interfaces), ") refuse ", kind,
          " without target.interface (name one of the allowed interfaces)"));
    }
    if (std::none_of(interfaces->begin(), interfaces->end(), [&](const std::string& glob) {
          return GlobMatches(glob, target->interface());
        })) {
      return absl::PermissionDeniedError(absl::StrCat("policy interfaces (", List(*interfaces),
                                                      ") refuse interface ",
                                                      target->interface()));
    }
  }

  // Targets a request names outright; name / regex selectors are resolved on
  // the host (process_target.h) and refused there.
  if (const v1::ProcessTarget* target = ProcessTargetOf(spec); target != nullptr) {
    if (target->selector_case() == v1::ProcessTarget::kPid && target->pid() == 1) {
      return absl::PermissionDeniedError(
          absl::StrCat("policy protected_processes: pid 1 is always protected (init); refuses ",
                       kind));
    }
    if (target->selector_case() == v1::ProcessTarget::kName) {
      if (target->name() == "sshd") {
        return absl::PermissionDeniedError(absl::StrCat(
            "policy protected_processes: name sshd is always protected (ssh daemon); refuses ",
            kind));
      }
      for (const std::string& entry : protected_processes) {
        if (entry == target->name()) {
          return Refuse("protected_processes", entry, absl::StrCat(kind, " of name ", entry));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Policy::CheckConcurrent(size_t active) const {
  if (!max_concurrent_faults.has_value() || active < *max_concurrent_faults) {
    return absl::OkStatus();
  }
  return Refuse("max_concurrent_faults", absl::StrCat(*max_concurrent_faults),
                absl::StrCat("another fault: ", active, " active"));
}

std::string Policy::Describe() const {
  std::vector<std::string> parts;
  if (allowed_kinds) parts.push_back(absl::StrCat("allowed_kinds=", List(*allowed_kinds)));
  if (max_delay) parts.push_back(absl::StrCat("max_delay=", FormatMicros(max_delay->count())));
  if (max_loss_pct) parts.push_back(absl::StrCat("max_loss_pct=", Pct(*max_loss_pct)));
  if (max_cpu_pct) parts.push_back(absl::StrCat("max_cpu_pct=", Pct(*max_cpu_pct)));
  if (max_memory) parts.push_back(absl::StrCat("max_memory=", FormatMemoryLimit(*max_memory)));
  if (max_duration) parts.push_back(absl::StrCat("max_duration=", FormatDuration(*max_duration)));
  if (interfaces) parts.push_back(absl::StrCat("interfaces=", List(*interfaces)));
  if (!protected_processes.empty()) {
    parts.push_back(absl::StrCat("protected_processes=", List(protected_processes)));
  }
  if (max_concurrent_faults) {
    parts.push_back(absl::StrCat("max_concurrent_faults=", *max_concurrent_faults));
  }
  if (parts.empty()) return "no limits";
  return absl::StrJoin(parts, " ");
}

std::optional<Policy> ReadPolicy(const YamlNode& node, Diagnostics* diagnostics) {
  if (node.IsNull()) return Policy{};
  if (!ExpectMapping(node, "policy", diagnostics)) return std::nullopt;
  const size_t before = diagnostics->size();
  Fields fields(node, "policy", diagnostics);
  Policy policy;

  if (const YamlNode* n = fields.Get("allowed_kinds")) {
    policy.allowed_kinds = ReadStringList(*n, "policy.allowed_kinds", diagnostics);
    if (policy.allowed_kinds.has_value()) {
      const std::vector<std::string> known = KnownKinds();
      for (size_t i = 0; i < policy.allowed_kinds->size(); ++i) {
        const std::string& glob = (*policy.allowed_kinds)[i];
        if (std::any_of(known.begin(), known.end(),
                        [&](const std::string& kind) { return GlobMatches(glob, kind); })) {
          continue;
        }
        std::string message = absl::StrCat("policy.allowed_kinds: \"", glob,
                                            "\" matches no fault kind");
        if (std::string near = Suggest(glob, known); !near.empty()) {
          absl::StrAppend(&message, " (did you mean ", near, "?)");
        } else {
          absl::StrAppend(&message, " (kinds: ", absl::StrJoin(known, ", "), ")");
        }
        diagnostics->Add(n->items[i].where, std::move(message));
      }
    }
  }
  if (const YamlNode* n = fields.Get("max_delay")) {
    if (auto d = ReadDuration(*n, "policy.max_delay", milliseconds(1), std::chrono::hours(1),
                              "a duration from 1ms to 1h", diagnostics)) {
      policy.max_delay = std::chrono::duration_cast<microseconds>(*d);
    }
  }
  if (const YamlNode* n = fields.Get("max_loss_pct")) {
    policy.max_loss_pct =
        ReadNumber(*n, "policy.max_loss_pct", 0, false, 100, "a percent 0..100", diagnostics);
  }
  if (const YamlNode* n = fields.Get("max_cpu_pct")) {
    policy.max_cpu_pct =
        ReadNumber(*n, "policy.max_cpu_pct", 0, true, 100, "a percent in (0, 100]", diagnostics);
  }
  if (const YamlNode* n = fields.Get("max_memory")) {
    policy.max_memory = ReadMemoryLimit(*n, diagnostics);
  }
  if (const YamlNode* n = fields.Get("max_duration")) {
    policy.max_duration = ReadDuration(*n, "policy.max_duration", std::chrono::seconds(1),
                                       std::chrono::hours(24 * 365),
                                       "a duration from 1s to 365 days", diagnostics);
  }
  if (const YamlNode* n = fields.Get("interfaces")) {
    policy.interfaces = ReadStringList(*n, "policy.interfaces", diagnostics);
  }
  if (const YamlNode* n = fields.Get("protected_processes")) {
    if (auto entries = ReadStringList(*n, "policy.protected_processes", diagnostics)) {
      for (size_t i = 0; i < entries->size(); ++i) {
        const std::string& entry = (*entries)[i];
        const YamlNode& where = n->items[i];
        if (absl::StartsWith(entry, kCmdlinePrefix)) {
          if (entry.size() == kCmdlinePrefix.size()) {
            diagnostics->Add(where.where, "policy.protected_processes: \"cmdline:\" needs a "
                                          "substring after the colon");
          }
        } else if (absl::StrContains(entry, "/")) {
          diagnostics->Add(where.where,
                           absl::StrCat("policy.protected_processes: \"", entry,
                                        "\" is a path; give the process name (comm or "
                                        "executable name) or \"cmdline:", entry, "\""));
        }
      }
      policy.protected_processes = *std::move(entries);
    }
  }
  if (const YamlNode* n = fields.Get("max_concurrent_faults")) {
    if (auto max = ReadInt(*n, "policy.max_concurrent_faults", 1, 100000, "an integer 1..100000",
                           diagnostics)) {
      policy.max_concurrent_faults = static_cast<uint32_t>(*max);
    }
  }
  fields.Finish();
  if (diagnostics->size() != before) return std::nullopt;
  return policy;
}

}  // namespace faultline::agent
