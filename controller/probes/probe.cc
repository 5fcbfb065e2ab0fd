#include "controller/probes/probe.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/subprocess.h"
#include "common/unique_fd.h"

namespace faultline::controller {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::microseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
}

size_t DiscardBody(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

ProbeResult RunHttp(const Probe& probe) {
  ProbeResult result;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    result.error = "curl_easy_init failed";
    return result;
  }
  curl_easy_setopt(curl, CURLOPT_URL, probe.url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(probe.timeout.count()));
  // Probes run from worker threads: libcurl must not use signals for timeouts.
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, DiscardBody);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "faultline-probe/1");
  auto start = Clock::now();
  CURLcode rc = curl_easy_perform(curl);
  result.latency = Since(start);
  if (rc != CURLE_OK) {
    result.error = absl::StrCat("GET ", probe.url, ": ", curl_easy_strerror(rc));
  } else {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    result.detail = absl::StrCat("status ", status);
    result.ok = status == probe.expect_status;
    if (!result.ok) {
      result.error = absl::StrCat("expected status ", probe.expect_status, ", got ", status);
    }
  }
  curl_easy_cleanup(curl);
  return result;
}

ProbeResult RunTcp(const Probe& probe) {
  ProbeResult result;
  size_t colon = probe.address.rfind(':');
  std::string host = probe.address.substr(0, colon);
  std::string port = probe.address.substr(colon + 1);
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
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
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
  result.latency = Since(start);
  if (!result.ok) result.error = absl::StrCat("connect ", probe.address, ": ", last_error);
  return result;
}

ProbeResult RunExec(const Probe& probe) {
  ProbeResult result;
  // Own process group, so a timeout kills the whole pipeline the shell started.
  auto start = Clock::now();
  auto spawned = SpawnInOwnGroup({"/bin/sh", "-c", probe.command});
  if (!spawned.ok()) {
    result.error = std::string(spawned.status().message());
    return result;
  }
  const pid_t pid = *spawned;
  int status = 0;
  bool timed_out = false;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (Clock::now() - start > probe.timeout) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  result.latency = Since(start);
  if (timed_out) {
    result.error = absl::StrCat("command timed out after ", probe.timeout.count(), "ms");
  } else if (WIFEXITED(status)) {
    result.detail = absl::StrCat("exit ", WEXITSTATUS(status));
    result.ok = WEXITSTATUS(status) == 0;
    if (!result.ok) result.error = absl::StrCat("command exited ", WEXITSTATUS(status));
  } else {
    result.detail = absl::StrCat("signal ", WTERMSIG(status));
    result.error = absl::StrCat("command killed by signal ", WTERMSIG(status));
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
  }
  ProbeResult unknown;
  unknown.error = "unknown probe kind";
  return unknown;
}

}  // namespace faultline::controller
