#include "controller/probes/probe.h"

#include <curl/curl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/unique_fd.h"
#include "controller/probes/checks.h"
#include "controller/probes/transport.h"
#include "nlohmann/json.hpp"
#include "re2/re2.h"

namespace faultline::controller {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kProbeMaxOutputBytes = 1 << 20;
constexpr size_t kProbeExcerptChars = 120;

// Whole milliseconds, rounded up: a latency of 200.3 ms against a 200 ms
// limit must not print as "200 ms > max 200 ms".
int64_t CeilMs(std::chrono::microseconds us) { return (us.count() + 999) / 1000; }

// The start of `text`, as a JSON string literal so control bytes stay readable.
std::string Head(const std::string& text) {
  std::string cut =
      text.size() > kProbeExcerptChars ? text.substr(0, kProbeExcerptChars) + "..." : text;
  return nlohmann::json(cut).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Quote(const std::string& text) { return nlohmann::json(text).dump(); }

std::string ShortJson(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return text.size() > kProbeExcerptChars ? text.substr(0, kProbeExcerptChars) + "..." : text;
}

ProbeResult RunHttp(const Probe& probe) {
  ProbeResult result;
  HttpRequest request;
  request.url = probe.url;
  request.timeout = probe.timeout;
  HttpExchange exchange = PerformHttp(request);
  result.latency = exchange.latency;
  if (!exchange.error.empty()) {
    result.error = absl::StrCat("GET ", probe.url, ": ", exchange.error);
    return result;
  }
  std::vector<std::string> failures;
  std::vector<std::string> seen = {absl::StrCat("status ", exchange.status)};
  if (exchange.status != probe.expect_status) {
    failures.push_back(absl::StrCat("status ", exchange.status, ", want ", probe.expect_status));
  }
  if (probe.max_latency.count() > 0 && exchange.latency > probe.max_latency) {
    failures.push_back(absl::StrCat("latency ", CeilMs(exchange.latency), " ms > max ",
                                    probe.max_latency.count(), " ms"));
  }
  // An error page's body says nothing about the checks written for the
  // healthy one: with the wrong status, the status is the finding.
  if (exchange.status == probe.expect_status) {
    if (!probe.body_regex.empty()) {
      RE2 re(probe.body_regex, RE2::Quiet);
      if (!re.ok()) {
        failures.push_back(
            absl::StrCat("invalid body regex ", Quote(probe.body_regex), ": ", re.error()));
      } else if (!RE2::PartialMatch(exchange.body, re)) {
        failures.push_back(absl::StrCat("body does not match ", Quote(probe.body_regex),
                                        " (body: ", Head(exchange.body), ")"));
      }
    }
    if (!probe.json.empty()) {
      nlohmann::json doc = nlohmann::json::parse(exchange.body, nullptr, false);
      if (doc.is_discarded()) {
        failures.push_back(absl::StrCat("body is not JSON: ", Head(exchange.body)));
      } else {
        for (const JsonCheck& check : probe.json) {
          double number = std::nan("");
          std::string failure = EvaluateJsonCheck(doc, check, &number);
          if (!std::isnan(number) && !result.value.has_value()) result.value = number;
          if (auto field = JsonAt(doc, check.field); field.ok()) {
            seen.push_back(absl::StrCat(check.field, "=", ShortJson(**field)));
          }
          if (!failure.empty()) failures.push_back(std::move(failure));
        }
      }
    }
  }
  result.detail = absl::StrJoin(seen, ", ");
  result.ok = failures.empty();
  result.error = absl::StrJoin(failures, "; ");
  return result;
}

ProbeResult RunTcp(const Probe& probe) {
  ProbeResult result;
  size_t colon = probe.address.rfind(':');
  std::string host = probe.address.substr(0, colon);
  std::string port = colon == std::string::npos ? "" : probe.address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto start = Clock::now();
  auto deadline = start + probe.timeout;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addrs = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &addrs); rc != 0) {
    result.error = absl::StrCat("resolve ", probe.address, ": ", gai_strerror(rc));
    return result;
  }
  std::string last_error = "no address";
  for (addrinfo* a = addrs; a != nullptr && !result.ok; a = a->ai_next) {
    UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd.valid()) {
      last_error = std::strerror(errno);
      continue;
    }
    if (connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      continue;
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd.get(), POLLOUT, 0};
    int n = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (n <= 0) {
      last_error = n == 0 ? "timed out" : std::strerror(errno);
      continue;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      last_error = std::strerror(err);
      continue;
    }
    result.ok = true;
    result.detail = "connected";
  }
  freeaddrinfo(addrs);
  result.latency = ElapsedSince(start);
  if (!result.ok) result.error = absl::StrCat("connect ", probe.address, ": ", last_error);
  return result;
}

ProbeResult RunExec(const Probe& probe) {
  ProbeResult result;
  ShellRun run = RunShell(probe.command, probe.timeout, kProbeMaxOutputBytes);
  result.latency = run.latency;
  if (!run.error.empty()) {
    result.error = run.error;
    return result;
  }
  if (run.timed_out) {
    result.error = absl::StrCat("command timed out after ", probe.timeout.count(), "ms");
    return result;
  }
  if (!run.exited) {
    result.detail = absl::StrCat("signal ", run.signal);
    result.error = absl::StrCat("command killed by signal ", run.signal);
    return result;
  }
  std::vector<std::string> failures;
  result.detail = absl::StrCat("exit ", run.exit_code);
  if (run.exit_code != probe.expect_exit) {
    failures.push_back(absl::StrCat("command exited ", run.exit_code, ", want ", probe.expect_exit));
  }
  if (!probe.output_regex.empty()) {
    RE2 re(probe.output_regex, RE2::Quiet);
    if (!re.ok()) {
      failures.push_back(
          absl::StrCat("invalid output regex ", Quote(probe.output_regex), ": ", re.error()));
    } else if (!RE2::PartialMatch(run.output, re)) {
      failures.push_back(absl::StrCat("output does not match ", Quote(probe.output_regex),
                                      " (output: ", QuotedTail(run.output, kProbeExcerptChars),
                                      ")"));
    }
  }
  result.ok = failures.empty();
  result.error = absl::StrJoin(failures, "; ");
  return result;
}

std::string PrometheusQueryUrl(const std::string& server, const std::string& query) {
  std::string base = server;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string encoded;
  if (char* escaped = curl_easy_escape(nullptr, query.data(), static_cast<int>(query.size()))) {
    encoded = escaped;
    curl_free(escaped);
  }
  return absl::StrCat(base, "/api/v1/query?query=", encoded);
}

ProbeResult RunPrometheus(const Probe& probe) {
  ProbeResult result;
  HttpRequest request;
  request.url = PrometheusQueryUrl(probe.server, probe.query);
  request.timeout = probe.timeout;
  HttpExchange exchange = PerformHttp(request);
  result.latency = exchange.latency;
  if (!exchange.error.empty()) {
    // The URL carries the encoded query; the server alone reads better.
    result.error = absl::StrCat("prometheus: ", probe.server, ": ", exchange.error);
    return result;
  }
  auto sample = ParsePrometheusResponse(exchange.body);
  if (!sample.ok()) {
    // Prometheus answers query errors with 4xx/5xx and a JSON body: the body
    // says more than the status when it parses.
    bool json_error = sample.status().message().rfind("response is not JSON", 0) != 0;
    result.error = exchange.status == 200 || json_error
                       ? absl::StrCat("prometheus: ", sample.status().message())
                       : absl::StrCat("prometheus: HTTP ", exchange.status, " from ", probe.server);
    return result;
  }
  if (!std::isnan(sample->value)) result.value = sample->value;
  result.detail = absl::StrCat("value ", FormatProbeValue(sample->value));
  if (!sample->series.empty()) absl::StrAppend(&result.detail, " for ", sample->series);
  result.ok = Compare(sample->value, probe.op, probe.value, probe.value_high);
  if (!result.ok) {
    result.error = absl::StrCat("prometheus: got ", FormatProbeValue(sample->value), ", want ",
                                DescribeExpectation(probe.op, probe.value, probe.value_high),
                                std::isnan(sample->value) ? " (NaN never compares true)" : "");
  }
  return result;
}

}  // namespace

void InitProbes() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

ProbeResult RunProbe(const Probe& probe) {
  switch (probe.kind) {
    case ProbeKind::kHttp: return RunHttp(probe);
    case ProbeKind::kTcp: return RunTcp(probe);
    case ProbeKind::kExec: return RunExec(probe);
    case ProbeKind::kPrometheus: return RunPrometheus(probe);
  }
  ProbeResult unknown;
  unknown.error = "unknown probe kind";
  return unknown;
}

}  // namespace faultline::controller
