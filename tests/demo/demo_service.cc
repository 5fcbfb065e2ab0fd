// faultline-demo: the small HTTP service the quickstart and the end-to-end
// tests inject faults around. GET /health answers 200 "ok"; GET /metrics
// exposes Prometheus text counters. It does nothing else, on purpose: when a
// probe against it fails, the fault is the reason.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace {

httplib::Server* g_server = nullptr;

void Stop(int) {
  if (g_server != nullptr) g_server->stop();
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8080";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--listen" && i + 1 < argc) {
      listen = argv[++i];
    } else {
      std::cerr << "usage: faultline-demo [--listen HOST:PORT]\n";
      return 2;
    }
  }
  size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    std::cerr << "faultline-demo: --listen must be HOST:PORT, got " << listen << "\n";
    return 2;
  }
  std::string host = listen.substr(0, colon);

  std::atomic<uint64_t> requests{0};
  httplib::Server server;
  server.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    ++requests;
    res.set_content("ok\n", "text/plain");
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(absl::StrCat("# HELP demo_requests_total Health requests served.\n",
                                 "# TYPE demo_requests_total counter\n",
                                 "demo_requests_total ", requests.load(), "\n",
                                 "# HELP demo_up Always 1 while serving.\n",
                                 "# TYPE demo_up gauge\ndemo_up 1\n"),
                    "text/plain; version=0.0.4");
  });
  g_server = &server;
  std::signal(SIGTERM, Stop);
  std::signal(SIGINT, Stop);
  if (port == 0) {
    port = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) {
    std::cerr << "faultline-demo: cannot listen on " << listen << "\n";
    return 1;
  }
  std::printf("faultline-demo listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  server.listen_after_bind();
  return 0;
}
