#include "controller/notify/notifier.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace faultline::controller {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct PostResult {
  std::string error;  // transport failure; "" when a response arrived
  long status = 0;
};

size_t DiscardBody(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

// One POST through the multi interface, so `cancel` ends it within one poll
// (50 ms) instead of at the request timeout: Close() must keep its deadline
// even when the webhook hangs.
PostResult Post(const std::string& url, const std::string& body, std::chrono::milliseconds timeout,
                const std::atomic<bool>& cancel) {
  PostResult result;
  CURL* easy = curl_easy_init();
  CURLM* multi = curl_multi_init();
  if (easy == nullptr || multi == nullptr) {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (multi != nullptr) curl_multi_cleanup(multi);
    result.error = "curl init failed";
    return result;
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "faultline-notify/1");
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, DiscardBody);
  curl_multi_add_handle(multi, easy);
  int running = 1;
  while (true) {
    if (curl_multi_perform(multi, &running) != CURLM_OK) {
      result.error = "curl multi failed";
      break;
    }
    if (running == 0) {
      int left = 0;
      CURLMsg* msg = curl_multi_info_read(multi, &left);
      if (msg != nullptr && msg->msg == CURLMSG_DONE && msg->data.result != CURLE_OK) {
        result.error = curl_easy_strerror(msg->data.result);
      } else {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &result.status);
      }
      break;
    }
    if (cancel.load()) {
      result.error = "cancelled at the close deadline";
      break;
    }
    curl_multi_poll(multi, nullptr, 0, 50, nullptr);
  }
  curl_multi_remove_handle(multi, easy);
  curl_easy_cleanup(easy);
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
  return result;
}

bool Retryable(const PostResult& r) {
  return !r.error.empty() || r.status >= 500 || r.status == 429;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Notifier>> Notifier::Create(const NotifySpec& spec,
                                                           NotifierOptions options) {
  const std::string& url = spec.webhook;
  const bool scheme =
      absl::StartsWithIgnoreCase(url, "http://") || absl::StartsWithIgnoreCase(url, "https://");
  const std::string redacted = RedactUrl(url);
  if (!scheme || redacted.size() <= redacted.find("://") + 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("notify webhook ", scheme ? redacted : "(not shown)",
                     ": must be an http:// or https:// URL with a host"));
  }
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  options.max_queue = std::max<size_t>(1, options.max_queue);
  options.max_attempts = std::max(1, options.max_attempts);
  return std::unique_ptr<Notifier>(new Notifier(url, options));
}

Notifier::Notifier(std::string url, NotifierOptions options)
    : url_(std::move(url)), redacted_(RedactUrl(url_)), options_(options) {
  sender_ = std::thread([this] { SendLoop(); });
}

Notifier::~Notifier() { Close(SteadyClock::now()); }

void Notifier::OnEvent(const Event& event) {
  std::lock_guard lock(mu_);
  if (closing_) return;
  std::optional<nlohmann::json> body = formatter_.Format(event);
  if (!body.has_value()) return;
  if (queue_.size() >= options_.max_queue) {
    queue_.pop_front();
    ++stats_.dropped;
    // Once, then every 100th: a dead webhook must not flood the log either.
    if (stats_.dropped == 1 || stats_.dropped % 100 == 0) {
      spdlog::warn("notify queue full, dropped the oldest update webhook={} dropped={}", redacted_,
                   stats_.dropped);
    }
  }
  queue_.push_back(body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  cv_.notify_all();
}

void Notifier::Close(SteadyClock::time_point deadline) {
  {
    std::unique_lock lock(mu_);
    closing_ = true;
    cv_.notify_all();
    cv_.wait_until(lock, deadline, [this] { return queue_.empty() && idle_; });
    if (!queue_.empty() || !idle_) {
      const int64_t left = static_cast<int64_t>(queue_.size()) + (idle_ ? 0 : 1);
      stats_.dropped += static_cast<int64_t>(queue_.size());
      queue_.clear();
      spdlog::warn("notify: close deadline reached, abandoned updates webhook={} abandoned={}",
                   redacted_, left);
    }
    cancel_ = true;
    cv_.notify_all();
  }
  if (sender_.joinable()) sender_.join();
}

NotifierStats Notifier::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Notifier::SendLoop() {
  while (true) {
    std::string body;
    {
      std::unique_lock lock(mu_);
      // Close() sets cancel_ once the queue is flushed or its deadline passed.
      cv_.wait(lock, [this] { return !queue_.empty() || cancel_.load(); });
      if (cancel_) return;
      body = std::move(queue_.front());
      queue_.pop_front();
      idle_ = false;
    }
    const bool sent = Deliver(body);
    {
      std::lock_guard lock(mu_);
      idle_ = true;
      if (sent) {
        ++stats_.sent;
      } else if (!cancel_) {
        ++stats_.failed;
      } else {
        ++stats_.dropped;
      }
    }
    cv_.notify_all();
  }
}

bool Notifier::Deliver(const std::string& body) {
  std::chrono::milliseconds backoff = options_.backoff;
  PostResult result;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1) {
      std::unique_lock lock(mu_);
      ++stats_.retries;
      if (cv_.wait_for(lock, backoff, [this] { return cancel_.load(); })) return false;
      backoff *= 2;
    }
    result = Post(url_, body, options_.request_timeout, cancel_);
    if (result.error.empty() && result.status >= 200 && result.status < 300) return true;
    if (cancel_) return false;
    if (!Retryable(result)) break;
  }
  spdlog::warn("notify update not delivered webhook={} status={} error={}", redacted_,
               result.status, result.error.empty() ? "-" : result.error);
  return false;
}

}  // namespace faultline::controller
