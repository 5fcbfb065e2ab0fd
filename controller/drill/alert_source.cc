#include "controller/drill/alert_source.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/unix_time.h"
#include "controller/probes/transport.h"
#include "nlohmann/json.hpp"

namespace faultline::controller {
namespace {

// labels object -> map; false when not an object of strings.
bool ReadLabels(const nlohmann::json& j, std::map<std::string, std::string>* out) {
  if (!j.is_object()) return false;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return false;
    (*out)[k] = v.get<std::string>();
  }
  return true;
}

// A time field that may be absent or malformed: 0 then (unknown).
int64_t OptionalTime(const nlohmann::json& alert, const char* field) {
  auto it = alert.find(field);
  if (it == alert.end() || !it->is_string()) return 0;
  absl::StatusOr<int64_t> t = ParseRfc3339UnixMs(it->get<std::string>());
  return t.ok() && *t > 0 ? *t : 0;
}

}  // namespace

absl::StatusOr<int64_t> ParseRfc3339UnixMs(const std::string& text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("time \"", text, "\" is not RFC 3339: ", error));
  }
  return absl::ToUnixMillis(t);
}

AlertmanagerSource::AlertmanagerSource(std::string base_url, std::chrono::milliseconds timeout)
    : base_url_(std::move(base_url)), timeout_(timeout) {}

std::string AlertmanagerSource::Describe() const {
  return absl::StrCat("alertmanager ", base_url_);
}

absl::StatusOr<std::vector<FiringAlert>> AlertmanagerSource::Firing() {
  std::string base = base_url_;
  while (!base.empty() && base.back() == '/') base.pop_back();
  HttpRequest request;
  request.url = absl::StrCat(base, "/api/v2/alerts?active=true&silenced=false&inhibited=false");
  request.timeout = timeout_;
  request.max_body_bytes = 16 << 20;
  HttpExchange exchange = PerformHttp(request);
  if (!exchange.error.empty()) {
    return absl::UnavailableError(absl::StrCat("alertmanager ", base_url_, ": ", exchange.error));
  }
  if (exchange.status != 200) {
    return absl::UnavailableError(absl::StrCat("alertmanager ", base_url_, ": status ",
                                               exchange.status, " from /api/v2/alerts"));
  }
  nlohmann::json doc = nlohmann::json::parse(exchange.body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_array()) {
    return absl::UnavailableError(
        absl::StrCat("alertmanager ", base_url_, ": /api/v2/alerts did not return a json array"));
  }
  std::vector<FiringAlert> out;
  for (const nlohmann::json& a : doc) {
    if (!a.is_object()) continue;
    FiringAlert alert;
    if (!ReadLabels(a.value("labels", nlohmann::json()), &alert.labels)) continue;
    std::string state;
    auto status = a.find("status");
    if (status != a.end() && status->is_object()) state = status->value("state", "");
    // The query already excludes silenced and inhibited alerts; "suppressed"
    // is checked again so a server that ignores the filters cannot mislead.
    if (state == "suppressed") continue;
    alert.starts_at_unix_ms = OptionalTime(a, "startsAt");
    alert.fingerprint = a.value("fingerprint", "");
    out.push_back(std::move(alert));
  }
  return out;
}

absl::Status WebhookBoard::Accept(const std::string& body, int64_t received_unix_ms) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return absl::InvalidArgumentError("alertmanager webhook: body is not a json object");
  }
  auto alerts = doc.find("alerts");
  if (alerts == doc.end() || !alerts->is_array()) {
    return absl::InvalidArgumentError("alertmanager webhook: no \"alerts\" array");
  }
  struct Parsed {
    bool firing = false;
    Entry entry;
  };
  std::vector<Parsed> parsed;
  for (size_t i = 0; i < alerts->size(); ++i) {
    const nlohmann::json& a = (*alerts)[i];
    Parsed p;
    if (!a.is_object() || !ReadLabels(a.value("labels", nlohmann::json()), &p.entry.alert.labels)) {
      return absl::InvalidArgumentError(
          absl::StrCat("alertmanager webhook: alerts[", i, "] has no labels object of strings"));
    }
    std::string status = a.value("status", "");
    if (status != "firing" && status != "resolved") {
      return absl::InvalidArgumentError(absl::StrCat(
          "alertmanager webhook: alerts[", i, "].status must be firing or resolved, got \"",
          status, "\""));
    }
    p.firing = status == "firing";
    p.entry.alert.starts_at_unix_ms = OptionalTime(a, "startsAt");
    p.entry.alert.received_unix_ms = received_unix_ms;
    p.entry.alert.fingerprint = a.value("fingerprint", "");
    p.entry.ends_at_unix_ms = OptionalTime(a, "endsAt");
    parsed.push_back(std::move(p));
  }
  std::lock_guard lock(mu_);
  for (Parsed& p : parsed) {
    const auto& key = p.entry.alert.labels;
    if (!p.firing) {
      alerts_.erase(key);
      continue;
    }
    auto it = alerts_.find(key);
    if (it != alerts_.end() &&
        it->second.alert.starts_at_unix_ms == p.entry.alert.starts_at_unix_ms) {
      // A repeat of the same firing: keep when we first heard of it.
      p.entry.alert.received_unix_ms = it->second.alert.received_unix_ms;
    }
    alerts_[key] = std::move(p.entry);
  }
  while (alerts_.size() > kMaxAlerts) {
    auto oldest = std::min_element(alerts_.begin(), alerts_.end(), [](const auto& a, const auto& b) {
      return a.second.alert.received_unix_ms < b.second.alert.received_unix_ms;
    });
    alerts_.erase(oldest);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<FiringAlert>> WebhookBoard::Firing() {
  const int64_t now = NowUnixMs();
  std::lock_guard lock(mu_);
  std::vector<FiringAlert> out;
  for (const auto& [labels, entry] : alerts_) {
    if (entry.ends_at_unix_ms > 0 && entry.ends_at_unix_ms <= now) continue;
    out.push_back(entry.alert);
  }
  return out;
}

size_t WebhookBoard::size() const {
  std::lock_guard lock(mu_);
  return alerts_.size();
}

}  // namespace faultline::controller
