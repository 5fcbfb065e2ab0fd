#include "controller/spec/rules.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/units.h"

namespace faultline::controller {
namespace {


bool IsPort(absl::string_view s) {
  int port = 0;
  return !s.empty() && std::all_of(s.begin(), s.end(), absl::ascii_isdigit) &&
         absl::SimpleAtoi(s, &port) && port >= 1 && port <= 65535;
}

bool IsLabelName(absl::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength || !absl::ascii_isalnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

}  // namespace

bool IsName(absl::string_view s, bool allow_underscore) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = absl::ascii_islower(c) || absl::ascii_isdigit(c) ||
                    (i > 0 && (c == '-' || (allow_underscore && c == '_')));
    if (!ok) return false;
  }
  return true;
}

bool IsHostPort(absl::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos) return false;
  absl::string_view host = s.substr(0, colon);
  if (!IsPort(s.substr(colon + 1))) return false;
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
    return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
      return absl::ascii_isxdigit(c) || c == ':' || c == '.';
    });
  }
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_';
  });
}

bool IsAgentAddress(absl::string_view s) {
  if (absl::StartsWith(s, "unix:")) return s.size() > 6 && s[5] == '/';
  return IsHostPort(s);
}

std::string DurationRange(std::chrono::milliseconds max) {
  return absl::StrCat("a duration greater than 0 and at most ", FormatDuration(max));
}

std::string DurationBetween(std::chrono::milliseconds min, std::chrono::milliseconds max) {
  return absl::StrCat("a duration of at least ", FormatDuration(min), " and at most ",
                      FormatDuration(max));
}

std::string Quote(absl::string_view text) { return absl::StrCat("\"", absl::CEscape(text), "\""); }

std::string OrList(const std::vector<std::string>& words) {
  if (words.size() <= 1) return words.empty() ? "" : words[0];
  return absl::StrCat(absl::StrJoin(words.begin(), words.end() - 1, ", "), " or ", words.back());
}

bool WrittenBefore(const SourceLocation& a, const SourceLocation& b) {
  return std::tie(a.line, a.column) < std::tie(b.line, b.column);
}

std::optional<std::map<std::string, std::string>> ReadLabels(const YamlNode& node,
                                                             absl::string_view field,
                                                             Diagnostics* diagnostics) {
  if (!ExpectMapping(node, field, diagnostics)) return std::nullopt;
  const size_t before = diagnostics->size();
  Fields keys(node, std::string(field), diagnostics);  // duplicate and non-string keys
  std::map<std::string, std::string> labels;
  for (const auto& [key, value] : node.entries) {
    if (!key.IsScalar() || labels.count(key.scalar)) continue;
    if (!IsLabelName(key.scalar)) {
      diagnostics->Add(
          key.where,
          absl::StrCat(field, ": label name ", Describe(key), " must be 1..", kMaxNameLength,
                       " letters, digits, '-', '_', '.' and '/', starting with a "
                       "letter or digit"));
      continue;
    }
    if (auto v = ReadString(value, absl::StrCat(field, ".", key.scalar), diagnostics)) {
      labels.emplace(key.scalar, *v);
    }
  }
  if (diagnostics->size() != before) return std::nullopt;
  return labels;
}

std::optional<std::string> ReadHttpUrl(const YamlNode& node, absl::string_view field,
                                       Diagnostics* diagnostics) {
  std::optional<std::string> v = ReadString(node, field, diagnostics);
  if (!v) return std::nullopt;
  if (!absl::StartsWith(*v, "http://") || v->size() <= 7) {
    diagnostics->Add(node.where, absl::StrCat(field,
                                              " must start with http:// and name a host (https is "
                                              "not supported yet), got ",
                                              Describe(node)));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> ReadBool(const YamlNode& node, absl::string_view field,
                             Diagnostics* diagnostics) {
  const std::string lower = node.IsScalar() ? absl::AsciiStrToLower(node.scalar) : "";
  if (lower == "true") return true;
  if (lower == "false") return false;
  diagnostics->Add(node.where, absl::StrCat(field, " must be true or false, got ", Describe(node)));
  return std::nullopt;
}

std::optional<std::string> ReadNonEmptyString(const YamlNode& node, absl::string_view field,
                                              Diagnostics* diagnostics) {
  std::optional<std::string> v = ReadString(node, field, diagnostics);
  if (!v) return std::nullopt;
  if (absl::StripAsciiWhitespace(*v).empty()) {
    diagnostics->Add(node.where, absl::StrCat(field, " must not be empty"));
    return std::nullopt;
  }
  return v;
}

std::optional<uint64_t> ReadUint64(const YamlNode& node, absl::string_view field,
                                   Diagnostics* diagnostics) {
  uint64_t value = 0;
  // SimpleAtoi would take "+5" and " 5"; a seed is written as plain digits.
  if (node.IsScalar() && !node.scalar.empty() &&
      std::all_of(node.scalar.begin(), node.scalar.end(), absl::ascii_isdigit) &&
      absl::SimpleAtoi(node.scalar, &value)) {
    return value;
  }
  diagnostics->Add(node.where, absl::StrCat(field, " must be an integer 0..", UINT64_MAX, ", got ",
                                            Describe(node)));
  return std::nullopt;
}

}  // namespace faultline::controller
