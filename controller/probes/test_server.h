// Test-only: a cpp-httplib server on 127.0.0.1 with a kernel-chosen port,
// running on its own thread from construction to destruction. Register
// handlers through server() before calling Start().
#ifndef FAULTLINE_CONTROLLER_PROBES_TEST_SERVER_H_
#define FAULTLINE_CONTROLLER_PROBES_TEST_SERVER_H_

#include <chrono>
#include <string>
#include <thread>

#include "httplib.h"

namespace faultline::controller {

class LocalServer {
 public:
  LocalServer() = default;
  ~LocalServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  httplib::Server& server() { return server_; }

  // Binds and starts serving; returns the port (cpp-httplib 0.11 has no
  // wait_until_ready, so poll is_running()).
  int Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return port_;
  }
  std::string Url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_PROBES_TEST_SERVER_H_
