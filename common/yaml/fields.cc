#include "common/yaml/fields.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <memory>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/units.h"

namespace faultline {
namespace {

constexpr size_t kMaxShownValue = 40;

bool IsKey(const YamlNode& key) { return key.IsScalar(); }

}  // namespace

int EditDistance(absl::string_view a, absl::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::string Suggest(absl::string_view word, const std::vector<std::string>& known) {
  const std::string lower = absl::AsciiStrToLower(word);
  const int limit = lower.size() >= 5 ? 2 : 1;
  std::string best;
  int best_distance = limit + 1;
  for (const std::string& candidate : known) {
    const int distance = EditDistance(lower, absl::AsciiStrToLower(candidate));
    if (distance < best_distance && distance < static_cast<int>(candidate.size())) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string Describe(const YamlNode& node) {
  switch (node.type) {
    case YamlNode::Type::kNull: return "nothing";
    case YamlNode::Type::kSequence: return "a sequence";
    case YamlNode::Type::kMapping: return "a mapping";
    case YamlNode::Type::kScalar: break;
  }
  double number = 0;
  if (!node.quoted && absl::SimpleAtod(node.scalar, &number)) return node.scalar;
  std::string shown = node.scalar;
  if (shown.size() > kMaxShownValue) shown = absl::StrCat(shown.substr(0, kMaxShownValue), "...");
  return absl::StrCat("\"", absl::CEscape(shown), "\"");
}

std::string LineColumn(const SourceLocation& where) {
  return absl::StrCat(where.line, ":", where.column);
}

Fields::Fields(const YamlNode& mapping, std::string context, Diagnostics* diagnostics)
    : mapping_(mapping), context_(std::move(context)), diagnostics_(diagnostics) {
  for (size_t i = 0; i < mapping_.entries.size(); ++i) {
    const YamlNode& key = mapping_.entries[i].first;
    if (!IsKey(key)) {
      diagnostics_->Add(key.where, absl::StrCat("field names in ", context_,
                                                " must be strings, got ", Describe(key)));
      continue;
    }
    for (size_t j = 0; j < i; ++j) {
      const YamlNode& earlier = mapping_.entries[j].first;
      if (IsKey(earlier) && earlier.scalar == key.scalar) {
        diagnostics_->Add(key.where, absl::StrCat("duplicate field \"", key.scalar, "\" in ",
                                                  context_, " (first at ",
                                                  LineColumn(earlier.where), ")"));
        break;
      }
    }
  }
}

const YamlNode* Fields::Key(absl::string_view key) const {
  for (const auto& [k, v] : mapping_.entries) {
    if (IsKey(k) && k.scalar == key) return &k;
  }
  return nullptr;
}

const YamlNode* Fields::Get(absl::string_view key) {
  known_.emplace_back(key);
  for (const auto& [k, v] : mapping_.entries) {
    if (IsKey(k) && k.scalar == key) return &v;
  }
  return nullptr;
}

const YamlNode* Fields::Require(absl::string_view key) {
  const YamlNode* value = Get(key);
  if (value == nullptr) {
    diagnostics_->Add(mapping_.where,
                      absl::StrCat("missing required field \"", key, "\" in ", context_));
  }
  return value;
}

void Fields::Later(absl::string_view key) {
  known_.emplace_back(key);
  if (const YamlNode* k = Key(key)) {
    diagnostics_->Add(k->where, absl::StrCat("\"", key,
                                             "\" is not supported yet by this version of faultline"));
  }
}

void Fields::Finish() {
  for (const auto& [k, v] : mapping_.entries) {
    if (!IsKey(k)) continue;
    if (std::find(known_.begin(), known_.end(), k.scalar) != known_.end()) continue;
    std::string message = absl::StrCat("unknown field \"", k.scalar, "\" in ", context_);
    const std::string suggestion = Suggest(k.scalar, known_);
    if (!suggestion.empty()) absl::StrAppend(&message, " (did you mean \"", suggestion, "\"?)");
    diagnostics_->Add(k.where, std::move(message));
  }
}

std::optional<std::string> ReadString(const YamlNode& node, absl::string_view field,
                                      Diagnostics* diagnostics) {
  if (!node.IsScalar()) {
    diagnostics->Add(node.where,
                     absl::StrCat(field, " must be a string, got ", Describe(node)));
    return std::nullopt;
  }
  return node.scalar;
}

std::optional<int64_t> ReadInt(const YamlNode& node, absl::string_view field, int64_t min,
                               int64_t max, absl::string_view allowed, Diagnostics* diagnostics) {
  int64_t value = 0;
  if (node.IsScalar() && absl::SimpleAtoi(node.scalar, &value) && value >= min && value <= max) {
    return value;
  }
  diagnostics->Add(node.where, absl::StrCat(field, " must be ", allowed, ", got ", Describe(node)));
  return std::nullopt;
}

std::optional<double> ReadNumber(const YamlNode& node, absl::string_view field, double min,
                                 bool min_exclusive, double max, absl::string_view allowed,
                                 Diagnostics* diagnostics) {
  double value = 0;
  if (node.IsScalar() && absl::SimpleAtod(node.scalar, &value) && std::isfinite(value) &&
      (min_exclusive ? value > min : value >= min) && value <= max) {
    return value;
  }
  diagnostics->Add(node.where, absl::StrCat(field, " must be ", allowed, ", got ", Describe(node)));
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> ReadDuration(const YamlNode& node,
                                                      absl::string_view field,
                                                      std::chrono::milliseconds min,
                                                      std::chrono::milliseconds max,
                                                      absl::string_view allowed,
                                                      Diagnostics* diagnostics) {
  absl::StatusOr<std::chrono::milliseconds> value =
      node.IsScalar() ? ParseDuration(node.scalar)
                      : absl::InvalidArgumentError("not a scalar");
  if (!value.ok()) {
    diagnostics->Add(node.where, absl::StrCat(field, " must be a duration such as 500ms, 30s or "
                                                     "5m, got ",
                                              Describe(node)));
    return std::nullopt;
  }
  if (*value < min || *value > max) {
    // The text parsed as a duration, so it reads fine unquoted: "got 25h".
    diagnostics->Add(node.where, absl::StrCat(field, " must be ", allowed, ", got ", node.scalar));
    return std::nullopt;
  }
  return *value;
}

bool ExpectMapping(const YamlNode& node, absl::string_view field, Diagnostics* diagnostics) {
  if (node.IsMapping()) return true;
  diagnostics->Add(node.where,
                   absl::StrCat(field, ": expected a mapping, got ", Describe(node)));
  return false;
}

bool ExpectSequence(const YamlNode& node, absl::string_view field, Diagnostics* diagnostics) {
  if (node.IsSequence()) return true;
  diagnostics->Add(node.where,
                   absl::StrCat(field, ": expected a sequence, got ", Describe(node)));
  return false;
}

absl::Status FinishDiagnostics(std::vector<Diagnostic>& found, std::vector<Diagnostic>* out) {
  if (found.empty()) return absl::OkStatus();
  std::stable_sort(found.begin(), found.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
  });
  std::string message = found.front().ToString();
  if (found.size() > 1) {
    absl::StrAppend(&message, " (and ", found.size() - 1, " more problem",
                    found.size() > 2 ? "s" : "", ")");
  }
  if (out != nullptr) out->insert(out->end(), found.begin(), found.end());
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<std::string> ReadFileAtMost(const std::string& path, size_t max_bytes,
                                           absl::string_view label) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) return ErrnoToStatus(errno, absl::StrCat("open ", label, path));
  std::string text;
  char buffer[64 * 1024];
  while (true) {
    const size_t n = std::fread(buffer, 1, sizeof(buffer), file.get());
    text.append(buffer, n);
    if (text.size() > max_bytes) {
      return absl::OutOfRangeError(absl::StrCat(path, ": larger than ", max_bytes, " bytes"));
    }
    if (n < sizeof(buffer)) break;
  }
  if (std::ferror(file.get())) {
    const int error = errno;
    if (error == EISDIR) {
      return absl::InvalidArgumentError(absl::StrCat("read ", path, ": is a directory"));
    }
    return ErrnoToStatus(error, absl::StrCat("read ", label, path));
  }
  return text;
}

absl::StatusOr<std::string> ReadYamlFile(const std::string& path, absl::string_view what,
                                         std::vector<Diagnostic>* diagnostics) {
  absl::StatusOr<std::string> text = ReadFileAtMost(path, kMaxYamlBytes, "");
  if (absl::IsOutOfRange(text.status())) {
    Diagnostic too_big{{path, 0, 0}, absl::StrCat(what, " file is larger than 1 MiB")};
    if (diagnostics != nullptr) diagnostics->push_back(too_big);
    return absl::InvalidArgumentError(too_big.ToString());
  }
  return text;
}

}  // namespace faultline
