#include "agent/access/authorization.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/faults/fault_factory.h"

namespace faultline::agent {
namespace {

constexpr Action kAllActions[] = {Action::kApply, Action::kRevert,
                                  Action::kRenew, Action::kHalt,
                                  Action::kList,  Action::kCapabilities};

// Subjects are compared without the blanks some printers put around ',' and
// '=' ("CN = ctl, O = faultline"), so a rule copied from `openssl x509
// -subject` output still matches.
std::string CompactSubject(absl::string_view subject) {
  std::string out;
  out.reserve(subject.size());
  for (size_t i = 0; i < subject.size(); ++i) {
    const char c = subject[i];
    if (c == ' ') {
      const bool after = !out.empty() && (out.back() == ',' || out.back() == '=');
      size_t next = i;
      while (next < subject.size() && subject[next] == ' ') ++next;
      const bool before = next < subject.size() && (subject[next] == ',' || subject[next] == '=');
      if (after || before) continue;
    }
    out.push_back(c);
  }
  return out;
}

// The SAN prefixes a rule may use, as PeerIdentity spells them.
constexpr absl::string_view kSanPrefixes[] = {"DNS:", "URI:", "IP:", "email:"};

bool SameSan(absl::string_view pattern, absl::string_view san) {
  // DNS names compare case-insensitively; the type prefix does too.
  for (absl::string_view prefix : kSanPrefixes) {
    if (absl::StartsWithIgnoreCase(pattern, prefix) && absl::StartsWithIgnoreCase(san, prefix)) {
      pattern.remove_prefix(prefix.size());
      san.remove_prefix(prefix.size());
      return prefix == "DNS:" ? absl::EqualsIgnoreCase(pattern, san) : pattern == san;
    }
  }
  return false;
}

bool IsSan(absl::string_view pattern) {
  for (absl::string_view prefix : kSanPrefixes) {
    if (absl::StartsWithIgnoreCase(pattern, prefix) && pattern.size() > prefix.size()) return true;
  }
  return false;
}

// What an identity string in a rule may look like; anything else could never
// match and is a typo ("faultline-controller" for "CN=faultline-controller").
bool IsIdentityForm(absl::string_view pattern) {
  if (pattern == "anonymous" || IsSan(pattern)) return true;
  const size_t equals = pattern.find('=');
  return equals != absl::string_view::npos && equals > 0 && equals + 1 < pattern.size();
}

std::optional<Action> ParseAction(absl::string_view name) {
  for (Action action : kAllActions) {
    if (ActionName(action) == name) return action;
  }
  return std::nullopt;
}

void AddAction(Action action, std::vector<Action>* actions) {
  if (std::find(actions->begin(), actions->end(), action) == actions->end()) {
    actions->push_back(action);
  }
}

// A rule's `identities`, `allow` or `kinds`: a non-empty sequence of strings.
std::optional<std::vector<std::pair<std::string, const YamlNode*>>> ReadStringList(
    const YamlNode& node, const std::string& field, Diagnostics* diagnostics) {
  if (!ExpectSequence(node, field, diagnostics)) return std::nullopt;
  if (node.items.empty()) {
    diagnostics->Add(node.where, absl::StrCat(field, " must not be empty"));
    return std::nullopt;
  }
  std::vector<std::pair<std::string, const YamlNode*>> values;
  bool ok = true;
  for (const YamlNode& item : node.items) {
    std::optional<std::string> value = ReadString(item, field, diagnostics);
    if (!value.has_value() || value->empty()) {
      if (value.has_value()) {
        diagnostics->Add(item.where, absl::StrCat(field, " must not hold an empty string"));
      }
      ok = false;
      continue;
    }
    values.emplace_back(*value, &item);
  }
  if (!ok) return std::nullopt;
  return values;
}

std::optional<AuthorizationRule> ReadRule(const YamlNode& node, size_t index,
                                          std::set<std::string>* names,
                                          Diagnostics* diagnostics) {
  const std::string at = absl::StrCat("authorization[", index, "]");
  if (!ExpectMapping(node, at, diagnostics)) return std::nullopt;
  const size_t errors_before = diagnostics->size();
  Fields fields(node, at, diagnostics);
  AuthorizationRule rule;
  std::string context = at;

  if (const YamlNode* name = fields.Require("name")) {
    if (std::optional<std::string> value = ReadString(*name, at + ": name", diagnostics)) {
      if (value->empty()) {
        diagnostics->Add(name->where, at + ": name must not be empty");
      } else if (!names->insert(*value).second) {
        diagnostics->Add(name->where,
                         absl::StrCat("duplicate authorization rule name \"", *value, "\""));
      } else {
        rule.name = *value;
        context = absl::StrCat("authorization rule \"", *value, "\"");
      }
    }
  }

  if (const YamlNode* identities = fields.Require("identities")) {
    if (auto values = ReadStringList(*identities, context + ": identities", diagnostics)) {
      for (const auto& [value, item] : *values) {
        if (!IsIdentityForm(value)) {
          std::string message = absl::StrCat(context, ": identity \"", value,
                                             "\" must be CN=<common name>, a full subject "
                                             "(CN=..,O=..), DNS:, URI:, IP: or email:<name>, or "
                                             "anonymous");
          if (value.find_first_of("=:") == std::string::npos) {
            absl::StrAppend(&message, " (did you mean \"CN=", value, "\"?)");
          }
          diagnostics->Add(item->where, std::move(message));
          continue;
        }
        rule.identities.push_back(value);
      }
    }
  }

  if (const YamlNode* allow = fields.Require("allow")) {
    if (auto values = ReadStringList(*allow, context + ": allow", diagnostics)) {
      std::vector<std::string> known;
      for (Action action : kAllActions) known.emplace_back(ActionName(action));
      known.emplace_back("read");
      known.emplace_back("all");
      for (const auto& [value, item] : *values) {
        if (value == "all") {
          for (Action action : kAllActions) AddAction(action, &rule.allow);
        } else if (value == "read") {
          AddAction(Action::kList, &rule.allow);
          AddAction(Action::kCapabilities, &rule.allow);
        } else if (std::optional<Action> action = ParseAction(value)) {
          AddAction(*action, &rule.allow);
        } else {
          std::string message = absl::StrCat(context, ": unknown action \"", value, "\"");
          const std::string suggestion = Suggest(value, known);
          if (!suggestion.empty()) absl::StrAppend(&message, " (did you mean \"", suggestion, "\"?)");
          absl::StrAppend(&message, "; actions are ", absl::StrJoin(known, ", "));
          diagnostics->Add(item->where, std::move(message));
        }
      }
    }
  }

  if (const YamlNode* kinds = fields.Get("kinds")) {
    if (auto values = ReadStringList(*kinds, context + ": kinds", diagnostics)) {
      const std::vector<std::string> known = KnownKinds();
      for (const auto& [value, item] : *values) {
        const std::string& glob = value;  // clang 14 cannot capture a structured binding
        const bool matches_some = std::any_of(known.begin(), known.end(), [&](const std::string& k) {
          return KindMatches(glob, k);
        });
        if (!matches_some) {
          std::string message =
              absl::StrCat(context, ": kind \"", value, "\" matches no fault kind");
          const std::string suggestion = Suggest(value, known);
          if (!suggestion.empty()) absl::StrAppend(&message, " (did you mean \"", suggestion, "\"?)");
          diagnostics->Add(item->where, std::move(message));
          continue;
        }
        rule.kinds.push_back(value);
      }
    }
  }

  fields.Finish();
  if (diagnostics->size() != errors_before) return std::nullopt;
  return rule;
}

}  // namespace

absl::string_view ActionName(Action action) {
  switch (action) {
    case Action::kApply:
      return "apply";
    case Action::kRevert:
      return "revert";
    case Action::kRenew:
      return "renew";
    case Action::kHalt:
      return "halt";
    case Action::kList:
      return "list";
    case Action::kCapabilities:
      return "capabilities";
  }
  return "unknown";
}

bool IdentityMatches(absl::string_view pattern, const PeerIdentity& peer) {
  if (pattern == "anonymous") return !peer.authenticated;
  if (!peer.authenticated) return false;
  if (IsSan(pattern)) {
    return std::any_of(peer.sans.begin(), peer.sans.end(),
                       [&](const std::string& san) { return SameSan(pattern, san); });
  }
  if (!peer.common_name.empty() && pattern == absl::StrCat("CN=", peer.common_name)) return true;
  return !peer.subject.empty() && CompactSubject(pattern) == CompactSubject(peer.subject);
}

bool KindMatches(absl::string_view pattern, absl::string_view kind) {
  // Iterative glob with one backtrack point: the last '*' seen.
  size_t p = 0, k = 0;
  size_t star = absl::string_view::npos, resume = 0;
  while (k < kind.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = k;
    } else if (p < pattern.size() && pattern[p] == kind[k]) {
      ++p;
      ++k;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      k = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::Status Authorization::Decide(const PeerIdentity& peer, Action action,
                                   absl::string_view kind) const {
  if (rules_.empty()) return absl::OkStatus();
  for (const AuthorizationRule& rule : rules_) {
    if (std::find(rule.allow.begin(), rule.allow.end(), action) == rule.allow.end()) continue;
    if (std::none_of(rule.identities.begin(), rule.identities.end(),
                     [&](const std::string& id) { return IdentityMatches(id, peer); })) {
      continue;
    }
    if (action == Action::kApply && !rule.kinds.empty() &&
        std::none_of(rule.kinds.begin(), rule.kinds.end(),
                     [&](const std::string& glob) { return KindMatches(glob, kind); })) {
      continue;
    }
    return absl::OkStatus();
  }
  std::vector<absl::string_view> names;
  for (const AuthorizationRule& rule : rules_) names.push_back(rule.name);
  std::string what(ActionName(action));
  if (action == Action::kApply && !kind.empty()) absl::StrAppend(&what, " ", kind);
  return absl::PermissionDeniedError(absl::StrCat("no authorization rule lets ", peer.Name(), " ",
                                                  what, " (rules: ", absl::StrJoin(names, ", "),
                                                  ")"));
}

std::optional<Authorization> ReadAuthorization(const YamlNode& node, Diagnostics* diagnostics) {
  if (!ExpectSequence(node, "authorization", diagnostics)) return std::nullopt;
  if (node.items.empty()) {
    // An empty list would refuse every call, which is never what was meant.
    diagnostics->Add(node.where,
                     "authorization must list at least one rule (leave the section out to let "
                     "every caller do everything)");
    return std::nullopt;
  }
  std::vector<AuthorizationRule> rules;
  std::set<std::string> names;
  bool ok = true;
  for (size_t i = 0; i < node.items.size(); ++i) {
    std::optional<AuthorizationRule> rule = ReadRule(node.items[i], i, &names, diagnostics);
    if (!rule.has_value()) {
      ok = false;
      continue;
    }
    rules.push_back(*std::move(rule));
  }
  if (!ok) return std::nullopt;
  return Authorization(std::move(rules));
}

}  // namespace faultline::agent
