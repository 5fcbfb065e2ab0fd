#include "controller/probes/transport.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace faultline::controller {
namespace {

using Clock = std::chrono::steady_clock;

struct BodySink {
  std::string* body;
  size_t limit;
  bool overflow = false;
};

size_t CollectBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  size_t n = size * nmemb;
  if (sink->body->size() + n > sink->limit) {
    sink->overflow = true;
    return 0;  // libcurl ends the transfer with CURLE_WRITE_ERROR
  }
  sink->body->append(data, n);
  return n;
}

std::string Mebibytes(size_t bytes) {
  return bytes % (1 << 20) == 0 ? absl::StrCat(bytes >> 20, " MiB") : absl::StrCat(bytes, " bytes");
}

// Reads what is available from the non-blocking `fd` into `run`. Returns
// false at end of file or on an error other than "try again".
bool Drain(int fd, size_t limit, ShellRun* run) {
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      size_t keep = std::min(static_cast<size_t>(n), limit - std::min(limit, run->output.size()));
      run->output.append(buf, keep);
      if (keep < static_cast<size_t>(n)) run->output_truncated = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

}  // namespace

HttpExchange PerformHttp(const HttpRequest& request) {
  HttpExchange exchange;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    exchange.error = "curl_easy_init failed";
    return exchange;
  }
  BodySink sink{&exchange.body, request.max_body_bytes};
  curl_slist* headers = nullptr;
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  // Probes run from worker threads: libcurl must not use signals for timeouts.
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "faultline-probe/1");
  if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (!request.body.empty() || request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    // An empty content_type removes libcurl's default form-urlencoded type.
    headers = curl_slist_append(headers,
                                absl::StrCat("Content-Type:", request.content_type.empty() ? "" : " ",
                                             request.content_type)
                                    .c_str());
    // No "Expect: 100-continue" round trip for small bodies.
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  auto start = Clock::now();
  CURLcode rc = curl_easy_perform(curl);
  exchange.latency = ElapsedSince(start);
  if (rc != CURLE_OK) {
    exchange.error = sink.overflow ? absl::StrCat("response body larger than ",
                                                  Mebibytes(request.max_body_bytes))
                                   : curl_easy_strerror(rc);
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &exchange.status);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return exchange;
}

ShellRun RunShell(const std::string& command, std::chrono::milliseconds timeout,
                  size_t max_output_bytes) {
  ShellRun run;
  auto start = Clock::now();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    run.error = absl::StrCat("pipe: ", std::strerror(errno));
    return run;
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // Own process group, so a timeout kills the whole pipeline the shell
  // started. The controller blocks SIGINT/SIGTERM for its signal thread and
  // may ignore SIGPIPE; the command gets the defaults.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char**>(argv), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  write_end.Reset();  // the child holds the only write end now: EOF when it is done
  if (rc != 0) {
    run.error = absl::StrCat("spawn /bin/sh: ", std::strerror(rc));
    return run;
  }
  fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  // A pidfd makes "the shell exited" a poll event; without one, poll in
  // short slices.
  // (glibc 2.36's <sys/pidfd.h> lacks extern "C", hence the raw syscall.)
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));

  const auto deadline = start + timeout;
  bool pipe_open = true;
  int status = 0;
  int wait_error = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      wait_error = errno;
      kill(-pid, SIGKILL);
      break;
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      kill(-pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      run.timed_out = true;
      break;
    }
    pollfd fds_to_poll[2];
    nfds_t n = 0;
    if (pipe_open) fds_to_poll[n++] = {read_end.get(), POLLIN, 0};
    if (pidfd.valid()) fds_to_poll[n++] = {pidfd.get(), POLLIN, 0};
    int wait_ms = static_cast<int>(left.count());
    if (!pidfd.valid()) wait_ms = std::min(wait_ms, 10);
    if (poll(fds_to_poll, n, wait_ms) < 0 && errno != EINTR) {
      wait_error = errno;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    if (pipe_open) pipe_open = Drain(read_end.get(), max_output_bytes, &run);
  }
  if (pipe_open) Drain(read_end.get(), max_output_bytes, &run);
  run.latency = ElapsedSince(start);
  if (wait_error != 0) {
    run.error = absl::StrCat("wait for /bin/sh: ", std::strerror(wait_error));
  } else if (!run.timed_out) {
    if (WIFEXITED(status)) {
      run.exited = true;
      run.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      run.signal = WTERMSIG(status);
    }
  }
  return run;
}

std::chrono::microseconds ElapsedSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
}

std::string QuotedTail(const std::string& text, size_t max_chars) {
  std::string cut = text.size() > max_chars ? "..." + text.substr(text.size() - max_chars) : text;
  return nlohmann::json(cut).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace faultline::controller
