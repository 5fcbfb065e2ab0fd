// Helpers for the `faultline serve` process tests (tests/serve_*_test.cc): a
// real serve daemon started from a config, the faultline CLI, small files.
// Everything started here is killed by its Child's destructor.
#ifndef FAULTLINE_TESTS_SERVE_HARNESS_H_
#define FAULTLINE_TESTS_SERVE_HARNESS_H_

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace faultline::testing {

inline std::string WriteFile(const TempDir& dir, const std::string& name,
                             const std::string& body) {
  std::string path = dir.File(name);
  std::ofstream(path) << body;
  return path;
}

struct ServeProcess {
  Child child;
  std::string address;  // 127.0.0.1:PORT
};

// Starts `faultline serve --config CONFIG` (the config should say
// `listen: 127.0.0.1:0`) and waits until it serves.
inline ServeProcess StartServe(const TempDir& dir, const std::string& config,
                               const std::string& log_file) {
  std::string ready = dir.File("serve.ready");
  std::error_code ec;
  std::filesystem::remove(ready, ec);
  ServeProcess serve;
  serve.child = Child({BinDir() + "/faultline", "serve", "--config", config, "--ready-file", ready,
                       "--log-level", "info"},
                      log_file);
  serve.address = WaitForFile(ready, std::chrono::seconds(20));
  return serve;
}

// Stops serve the polite way (it stops its runs, which revert) and waits.
inline void StopServe(ServeProcess& serve) {
  serve.child.Signal(SIGTERM);
  serve.child.Wait(std::chrono::seconds(30));
}

// Runs the faultline CLI; returns its exit code, output in `out`.
inline int Faultline(std::vector<std::string> args, std::string* out,
                     std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
  args.insert(args.begin(), BinDir() + "/faultline");
  return RunCommand(args, out, timeout);
}

// Polls `predicate` every 20 ms until it holds or `timeout` passes.
template <typename Predicate>
bool Eventually(Predicate predicate, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return predicate();
}

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_SERVE_HARNESS_H_
