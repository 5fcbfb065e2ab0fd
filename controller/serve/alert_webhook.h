// AlertWebhookServer: the HTTP endpoint `faultline serve` offers Alertmanager
// as a webhook receiver (serve config `alertmanager_webhook: {listen:
// 127.0.0.1:9097}`). Every POST, whatever its path, is one Alertmanager
// webhook payload; it is applied to one WebhookBoard (controller/drill/
// alert_source.h) that serve passes to its runs as RunOptions::alert_source,
// so detect expectations of experiments without alerts.alertmanager see the
// alerts Alertmanager pushed.
//
// Answers: 200 applied; 400 body not a webhook payload (the message says
// why; nothing applied); 413 body over kMaxBodyBytes; 405 other methods.
// Alertmanager retries on 5xx only, so a malformed payload is not resent.
//
// Thread-safe; the server runs on its own thread from Start() until the
// object is destroyed.
#ifndef FAULTLINE_CONTROLLER_SERVE_ALERT_WEBHOOK_H_
#define FAULTLINE_CONTROLLER_SERVE_ALERT_WEBHOOK_H_

#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "controller/drill/alert_source.h"

namespace httplib {
class Server;
}

namespace faultline::controller {

class AlertWebhookServer {
 public:
  static constexpr size_t kMaxBodyBytes = 1 << 20;

  // Listens on `listen` ("HOST:PORT"; port 0 = any free port) and serves
  // until destroyed. `board` is not owned and must outlive the server.
  // InvalidArgument: `listen` is not HOST:PORT. Unavailable: cannot bind.
  static absl::StatusOr<std::unique_ptr<AlertWebhookServer>> Start(const std::string& listen,
                                                                    WebhookBoard* board);
  ~AlertWebhookServer();  // stops listening and joins the thread
  AlertWebhookServer(const AlertWebhookServer&) = delete;
  AlertWebhookServer& operator=(const AlertWebhookServer&) = delete;

  // "HOST:PORT" actually bound (the port chosen when 0 was asked for).
  const std::string& address() const { return address_; }
  // "http://HOST:PORT/", what Alertmanager's webhook_configs url should say.
  std::string url() const { return "http://" + address_ + "/"; }

 private:
  AlertWebhookServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SERVE_ALERT_WEBHOOK_H_
