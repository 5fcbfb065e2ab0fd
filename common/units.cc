#include "common/units.h"

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace faultline {

absl::StatusOr<std::chrono::milliseconds> ParseDuration(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  if (t.empty()) return absl::InvalidArgumentError("empty duration");
  if (t == "0") return std::chrono::milliseconds(0);
  if (t.front() == '-' || t.front() == '+') {
    return absl::InvalidArgumentError(
        absl::StrCat("duration must not be signed: \"", text, "\""));
  }
  absl::Duration d;
  if (!absl::ParseDuration(t, &d) || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid duration \"", text, "\" (use e.g. 500ms, 30s, 5m, 1h30m)"));
  }
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  const int64_t h = ms / 3600000, m = (ms / 60000) % 60, s = (ms / 1000) % 60, frac = ms % 1000;
  if (h == 0 && m == 0 && s == 0) return absl::StrCat(out, frac, "ms");
  if (h) absl::StrAppend(&out, h, "h");
  if (m) absl::StrAppend(&out, m, "m");
  if (frac) {
    std::string fraction = absl::StrFormat("%03d", frac);
    while (fraction.back() == '0') fraction.pop_back();
    absl::StrAppend(&out, s, ".", fraction, "s");
  } else if (s) {
    absl::StrAppend(&out, s, "s");
  }
  return out;
}

absl::StatusOr<uint64_t> ParseBytes(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < t.size() && absl::ascii_isdigit(t[digits])) ++digits;
  if (digits == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid size \"", text, "\" (use e.g. 512Mi, 2Gi, 100M)"));
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(t.substr(0, digits), &value)) {
    return absl::InvalidArgumentError(absl::StrCat("size \"", text, "\" is too large"));
  }
  std::string suffix(t.substr(digits));
  if (!suffix.empty() && (suffix.back() == 'B' || suffix.back() == 'b')) suffix.pop_back();
  uint64_t mult = 1;
  if (suffix.empty()) {
    mult = 1;
  } else if (suffix == "K" || suffix == "k") {
    mult = 1000ULL;
  } else if (suffix == "M") {
    mult = 1000ULL * 1000;
  } else if (suffix == "G") {
    mult = 1000ULL * 1000 * 1000;
  } else if (suffix == "T") {
    mult = 1000ULL * 1000 * 1000 * 1000;
  } else if (suffix == "Ki") {
    mult = 1ULL << 10;
  } else if (suffix == "Mi") {
    mult = 1ULL << 20;
  } else if (suffix == "Gi") {
    mult = 1ULL << 30;
  } else if (suffix == "Ti") {
    mult = 1ULL << 40;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid size unit in \"", text, "\" (use K, M, G, T, Ki, Mi, Gi, Ti)"));
  }
  if (value > std::numeric_limits<uint64_t>::max() / mult) {
    return absl::InvalidArgumentError(absl::StrCat("size \"", text, "\" is too large"));
  }
  return value * mult;
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "Ki", "Mi", "Gi", "Ti"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, "B");
  if (std::fabs(v - std::round(v)) < 0.005) return absl::StrCat(static_cast<int64_t>(std::round(v)), kUnits[unit]);
  return absl::StrFormat("%.2f%s", v, kUnits[unit]);
}

}  // namespace faultline
