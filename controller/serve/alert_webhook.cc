#include "controller/serve/alert_webhook.h"

#include <sys/socket.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "httplib.h"
#include "spdlog/spdlog.h"

namespace faultline::controller {

absl::StatusOr<std::unique_ptr<AlertWebhookServer>> AlertWebhookServer::Start(
    const std::string& listen, WebhookBoard* board) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("alertmanager webhook: listen must be HOST:PORT, got \"", listen, "\""));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::unique_ptr<AlertWebhookServer> out(new AlertWebhookServer());
  out->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *out->server_;
  server.set_payload_max_length(kMaxBodyBytes);
  // cpp-httplib's default adds SO_REUSEPORT, which would let a second serve
  // bind the same port and receive half of Alertmanager's posts.
  server.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.Post(".*", [board](const httplib::Request& req, httplib::Response& res) {
    absl::Status applied = board->Accept(req.body, absl::ToUnixMillis(absl::Now()));
    if (!applied.ok()) {
      spdlog::warn("alertmanager webhook payload refused from={} error={}", req.remote_addr,
                   applied.ToString());
      res.status = 400;
      res.set_content(absl::StrCat(applied.message(), "\n"), "text/plain");
      return;
    }
    res.set_content("ok\n", "text/plain");
  });
  auto not_allowed = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_content("POST Alertmanager webhook payloads here\n", "text/plain");
  };
  server.Get(".*", not_allowed);
  server.Put(".*", not_allowed);
  server.Delete(".*", not_allowed);
  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(
        absl::StrCat("alertmanager webhook: cannot listen on ", listen));
  }
  out->address_ = absl::StrCat(listen.substr(0, colon), ":", bound);
  out->thread_ = std::thread([&server] { server.listen_after_bind(); });
  // cpp-httplib 0.11 has no wait_until_ready.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  spdlog::info("alertmanager webhook listening address={}", out->address_);
  return out;
}

AlertWebhookServer::~AlertWebhookServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace faultline::controller
