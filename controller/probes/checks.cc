#include "controller/probes/checks.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace faultline::controller {
namespace {

using nlohmann::json;

// Long values are cut in messages: an error line should stay one line.
std::string Shorten(const std::string& text, size_t max = 120) {
  if (text.size() <= max) return text;
  return text.substr(0, max) + "...";
}

std::string Dump(const json& value) {
  return Shorten(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

const char* TypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::null: return "null";
    default: return "a number";
  }
}

// Numbers as Prometheus and JSON APIs write them, including Prometheus'
// "NaN", "+Inf" and "-Inf". The whole text must be the number.
bool ParseNumber(const std::string& text, double* out) {
  if (text == "NaN") {
    *out = std::nan("");
    return true;
  }
  if (text == "+Inf" || text == "Inf") {
    *out = HUGE_VAL;
    return true;
  }
  if (text == "-Inf") {
    *out = -HUGE_VAL;
    return true;
  }
  if (text.empty() || std::isspace(static_cast<unsigned char>(text.front())) ||
      std::isspace(static_cast<unsigned char>(text.back()))) {
    return false;
  }
  return absl::SimpleAtod(text, out);
}

}  // namespace

std::string FormatProbeValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", value);
    return std::string(buf) == "-0" ? "0" : buf;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(value);
}

bool Compare(double value, Comparison op, double low, double high) {
  if (std::isnan(value)) return false;
  switch (op) {
    case Comparison::kLess: return value < low;
    case Comparison::kLessEqual: return value <= low;
    case Comparison::kGreater: return value > low;
    case Comparison::kGreaterEqual: return value >= low;
    case Comparison::kEqual: return value == low;
    case Comparison::kBetween: return value >= low && value <= high;
  }
  return false;
}

std::string DescribeExpectation(Comparison op, double low, double high) {
  if (op == Comparison::kBetween) {
    return absl::StrCat("between ", FormatProbeValue(low), " and ", FormatProbeValue(high));
  }
  return absl::StrCat(ComparisonName(op), " ", FormatProbeValue(low));
}

absl::StatusOr<const json*> JsonAt(const json& root, const std::string& path) {
  // First the syntax, so a malformed path is reported as such whatever the
  // document holds; then the walk.
  struct PathStep {
    std::string key;  // "" for an index step
    size_t index = 0;
  };
  std::vector<PathStep> steps;
  auto malformed = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("malformed path \"", path, "\": ", why));
  };
  if (path.empty()) return absl::InvalidArgumentError("empty path");
  size_t i = 0;
  while (i < path.size()) {
    size_t end = path.find_first_of(".[", i);
    if (end == std::string::npos) end = path.size();
    if (end > i) {
      steps.push_back({path.substr(i, end - i), 0});
    } else if (i != 0 || path[i] != '[') {
      // Only a path that starts with an index ("[0].name") has no first key.
      return malformed("empty key");
    }
    i = end;
    while (i < path.size() && path[i] == '[') {
      size_t close = path.find(']', i);
      std::string digits = close == std::string::npos ? "" : path.substr(i + 1, close - i - 1);
      size_t index = 0;
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
          !absl::SimpleAtoi(digits, &index)) {
        return malformed("[n] takes a number");
      }
      steps.push_back({"", index});
      i = close + 1;
    }
    if (i < path.size()) {
      if (path[i] != '.') return malformed("expected . or [ after ]");
      if (++i == path.size()) return malformed("empty key");
    }
  }

  const json* node = &root;
  std::string where;  // the path walked so far, for messages
  auto here = [&] { return where.empty() ? std::string("the document") : where; };
  for (const PathStep& step : steps) {
    if (!step.key.empty()) {
      if (!node->is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat(here(), " is ", TypeName(*node), ", not an object"));
      }
      auto it = node->find(step.key);
      if (it == node->end()) {
        return absl::NotFoundError(absl::StrCat("no key \"", step.key, "\" in ", here()));
      }
      node = &*it;
      where += where.empty() ? step.key : absl::StrCat(".", step.key);
      continue;
    }
    if (!node->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(here(), " is ", TypeName(*node), ", not an array"));
    }
    if (step.index >= node->size()) {
      return absl::NotFoundError(
          absl::StrCat(here(), " has ", node->size(), " elements, no [", step.index, "]"));
    }
    node = &(*node)[step.index];
    where += absl::StrCat("[", step.index, "]");
  }
  return node;
}

std::string EvaluateJsonCheck(const json& root, const JsonCheck& check, double* number) {
  const std::string prefix = absl::StrCat("json field ", check.field, ": ");
  auto found = JsonAt(root, check.field);
  if (!found.ok()) return absl::StrCat(prefix, found.status().message());
  const json& field = **found;

  double value = 0;
  bool numeric = field.is_number();
  if (numeric) {
    value = field.get<double>();
  } else if (field.is_string()) {
    numeric = ParseNumber(field.get<std::string>(), &value);
  }
  if (numeric && number != nullptr) *number = value;

  if (check.is_number) {
    std::string want = DescribeExpectation(check.op, check.number, check.number_high);
    if (!numeric) {
      return absl::StrCat(prefix, "got ", Dump(field), " (", TypeName(field),
                          ", not a number), want ", want);
    }
    if (Compare(value, check.op, check.number, check.number_high)) return "";
    return absl::StrCat(prefix, "got ", FormatProbeValue(value), ", want ", want);
  }

  if (check.op != Comparison::kEqual) {
    return absl::StrCat(prefix, "only == applies to text, not ", ComparisonName(check.op));
  }
  // Booleans and null are written bare in the spec's text; strings quoted.
  const bool bare = check.text == "true" || check.text == "false" || check.text == "null";
  std::string want = bare && !field.is_string() ? check.text : json(check.text).dump();
  std::string got;
  bool equal = false;
  if (field.is_string()) {
    equal = field.get<std::string>() == check.text;
    got = Dump(field);
  } else if (field.is_boolean() || field.is_null()) {
    got = field.dump();
    equal = got == check.text;
  } else if (field.is_number()) {
    got = FormatProbeValue(value);
    equal = got == check.text;
  } else {
    got = absl::StrCat(TypeName(field), " ", Dump(field));
  }
  if (equal) return "";
  return absl::StrCat(prefix, "got ", got, ", want == ", want);
}

absl::StatusOr<PrometheusSample> ParsePrometheusResponse(const std::string& body) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("response is not JSON: ", Shorten(body, 80)));
  }
  if (!doc.is_object()) return absl::InvalidArgumentError("response is not a JSON object");
  std::string status = doc.value("status", "");
  if (status == "error") {
    return absl::InvalidArgumentError(absl::StrCat("query failed: ", doc.value("errorType", "?"),
                                                   ": ", doc.value("error", "")));
  }
  if (status != "success") {
    return absl::InvalidArgumentError(absl::StrCat("response status is \"", status,
                                                   "\", not \"success\""));
  }
  auto data = doc.find("data");
  if (data == doc.end() || !data->is_object() || !data->contains("result")) {
    return absl::InvalidArgumentError("response has no data.result");
  }
  std::string type = data->value("resultType", "");
  const json& result = (*data)["result"];
  const json* pair = nullptr;  // [timestamp, "value"]
  PrometheusSample sample;
  if (type == "scalar") {
    pair = &result;
  } else if (type == "vector") {
    if (!result.is_array()) return absl::InvalidArgumentError("data.result is not an array");
    if (result.size() != 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("query returned ", result.size(), " series, expected 1"));
    }
    const json& series = result[0];
    if (!series.is_object()) return absl::InvalidArgumentError("data.result[0] is not an object");
    if (auto metric = series.find("metric"); metric != series.end() && metric->is_object()) {
      std::string labels;
      for (const auto& [name, label] : metric->items()) {
        if (name == "__name__") continue;
        absl::StrAppend(&labels, labels.empty() ? "" : ", ", name, "=",
                        label.is_string() ? json(label.get<std::string>()).dump() : label.dump());
      }
      sample.series = absl::StrCat(metric->value("__name__", ""), "{", labels, "}");
    }
    auto value = series.find("value");
    if (value == series.end()) return absl::InvalidArgumentError("data.result[0] has no value");
    pair = &*value;
  } else {
    const char* article = !type.empty() && std::string("aeiou").find(type[0]) != std::string::npos
                              ? "an " : "a ";
    return absl::InvalidArgumentError(absl::StrCat(
        "query returned ", type.empty() ? "no resultType" : absl::StrCat(article, type),
        ", expected a scalar or one series"));
  }
  if (!pair->is_array() || pair->size() != 2 || !(*pair)[1].is_string() ||
      !ParseNumber((*pair)[1].get<std::string>(), &sample.value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sample is not [time, \"number\"]: ", Dump(*pair)));
  }
  return sample;
}

}  // namespace faultline::controller
