// The I/O half of probes and rollback actions: one HTTP exchange through
// libcurl and one shell command with its output captured, both bounded in
// time and size. probe.cc and action.cc build their verdicts on these, and
// controller/drill's Alertmanager poller reuses PerformHttp for its GETs.
// The two helpers at the end are how both halves measure and quote results.
//
// Both functions are thread-safe (no shared state; InitProbes() must have run
// once before threads start) and never fail as functions: a failure is
// described in the returned struct.
#ifndef FAULTLINE_CONTROLLER_PROBES_TRANSPORT_H_
#define FAULTLINE_CONTROLLER_PROBES_TRANSPORT_H_

#include <chrono>
#include <cstddef>
#include <string>

namespace faultline::controller {

struct HttpRequest {
  std::string method = "GET";  // GET, POST, PUT, DELETE, ...
  std::string url{};
  std::string body{};          // sent when non-empty
  std::string content_type{};  // header for a non-empty body; "" = none
  std::chrono::milliseconds timeout{1000};  // whole exchange, connect included
  size_t max_body_bytes = 4 << 20;  // larger responses fail the exchange
};

struct HttpExchange {
  // Transport failure, without the URL ("Timeout was reached", "response
  // body larger than 4 MiB"); "" when a complete response arrived (whatever
  // its status).
  std::string error{};
  long status = 0;
  std::string body{};
  std::chrono::microseconds latency{0};  // request start to last body byte
};

// Sends `request` and reads the whole response. Redirects are not followed.
HttpExchange PerformHttp(const HttpRequest& request);

struct ShellRun {
  std::string error{};  // the command could not be started; nothing else is set
  bool timed_out = false;  // killed (whole process group, SIGKILL) at the timeout
  bool exited = false;     // exited normally with exit_code
  int exit_code = 0;
  int signal = 0;          // the signal that ended it when !exited
  std::string output{};    // stdout and stderr interleaved, at most max_output_bytes
  bool output_truncated = false;
  std::chrono::microseconds latency{0};
};

// Runs `command` with /bin/sh -c as the leader of a new process group (stdin
// /dev/null, default signal dispositions, empty signal mask), captures its
// output and waits for it to exit. At `timeout` the whole group is killed.
// Background processes the command leaves behind are not waited for (their
// output after the shell's exit is not captured) and are not killed.
ShellRun RunShell(const std::string& command, std::chrono::milliseconds timeout,
                  size_t max_output_bytes = 1 << 20);

// Time on the steady clock since `start`: the latency probes and actions
// report.
std::chrono::microseconds ElapsedSince(std::chrono::steady_clock::time_point start);

// The last `max_chars` characters of `text` ("..." before them when cut) as
// a JSON string literal, so control bytes stay readable: how command output
// (which ends with what matters) appears in probe and action messages.
std::string QuotedTail(const std::string& text, size_t max_chars);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_PROBES_TRANSPORT_H_
