#include "agent/faults/network/queue_loop.h"

#include <arpa/inet.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "spdlog/spdlog.h"

namespace faultline::agent {
namespace {

// Pareto(alpha = 3, x_m = 1): mean 1.5, standard deviation sqrt(3)/2.
constexpr double kParetoAlpha = 3.0;
constexpr double kParetoMean = 1.5;
constexpr double kParetoDeviation = 0.8660254037844386;
// A standardised Pareto variate is capped here so one sample cannot hold a
// packet for minutes.
constexpr double kParetoCap = 20.0;

constexpr uint32_t kQueueMaxLen = 65536;
constexpr int kSocketBuffer = 16 << 20;

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// A hold is only as precise as the loop's wake-up. On a busy host a normal
// thread waits for a CPU for milliseconds, so the loop asks for the lowest
// real-time priority (its work per packet is a few microseconds, and the
// kernel's RT throttling still bounds it), else for nice -20.
void RaisePriority() {
  sched_param param{};
  param.sched_priority = 1;
  if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0) return;
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), -20);
}

}  // namespace

DelaySampler::DelaySampler(const DelayProfile& profile)
    : profile_(profile),
      random_(profile.seed != 0 ? profile.seed : std::random_device{}()) {}

double DelaySampler::Fresh() {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto pareto = [&] {
    double u = 1.0 - unit(random_);  // (0, 1]
    double x = std::pow(u, -1.0 / kParetoAlpha);
    return std::min((x - kParetoMean) / kParetoDeviation, kParetoCap);
  };
  switch (profile_.shape) {
    case DelayShape::kNormal: return normal(random_);
    case DelayShape::kPareto: return pareto();
    case DelayShape::kParetoNormal: {
      // Deviation of 0.25 N + 0.75 P is sqrt(0.25^2 + 0.75^2).
      return (0.25 * normal(random_) + 0.75 * pareto()) / 0.7905694150420949;
    }
    case DelayShape::kUniform:
    default: return 2.0 * unit(random_) - 1.0;
  }
}

std::chrono::nanoseconds DelaySampler::Next() {
  const int64_t delay_ns = profile_.delay.count() * 1000;
  if (profile_.jitter.count() == 0) return std::chrono::nanoseconds(delay_ns);
  double z = Fresh();
  const double c = std::clamp(profile_.correlation, 0.0, 1.0);
  if (c > 0) z = c * last_ + std::sqrt(1.0 - c * c) * z;
  last_ = z;
  if (profile_.shape == DelayShape::kUniform) z = std::clamp(z, -1.0, 1.0);
  double ns = static_cast<double>(delay_ns) + z * profile_.jitter.count() * 1000.0;
  return std::chrono::nanoseconds(static_cast<int64_t>(std::max(0.0, ns)));
}

// Held is nested here rather than in the anonymous namespace: in a unity
// batch GCC rejects a member of a named class whose type has internal linkage
// (-Wsubobject-linkage).
struct QueueLoop::State {
  struct Held {
    int64_t due_ns;
    int64_t received_ns;
    uint32_t id;
    bool operator>(const Held& other) const { return due_ns > other.due_ns; }
  };

  explicit State(const DelayProfile& profile) : sampler(profile) {}
  ~State() {
    if (queue != nullptr) nfq_destroy_queue(queue);
    if (handle != nullptr) nfq_close(handle);
  }

  // Loop thread only.
  DelaySampler sampler;
  nfq_handle* handle = nullptr;
  nfq_q_handle* queue = nullptr;
  uint16_t queue_num = 0;
  UniqueFd timer;
  UniqueFd wake;
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> heap;
  int64_t armed_ns = 0;  // what the timer is armed for, 0 = disarmed
  double hold_sum_ms = 0;
  std::vector<char> buffer = std::vector<char>(256 * 1024);

  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> released{0};
  std::atomic<uint64_t> overruns{0};
  std::atomic<double> mean_hold_ms{0};
  std::atomic<double> max_late_ms{0};
  std::atomic<int64_t> cpu_ns{0};
  std::thread thread;
  std::once_flag stopped;

  static int OnPacket(nfq_q_handle*, nfgenmsg*, nfq_data* data, void* self) {
    auto* state = static_cast<State*>(self);
    nfqnl_msg_packet_hdr* header = nfq_get_msg_packet_hdr(data);
    if (header == nullptr) return 0;
    const int64_t now = MonotonicNs();
    state->heap.push(Held{now + state->sampler.Next().count(), now, ntohl(header->packet_id)});
    state->received.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }

  void Accept(const Held& held, int64_t now) {
    nfq_set_verdict(queue, held.id, NF_ACCEPT, 0, nullptr);
    uint64_t n = released.fetch_add(1, std::memory_order_relaxed) + 1;
    hold_sum_ms += (now - held.received_ns) / 1e6;
    mean_hold_ms.store(hold_sum_ms / static_cast<double>(n), std::memory_order_relaxed);
    double late = (now - held.due_ns) / 1e6;
    if (late > max_late_ms.load(std::memory_order_relaxed)) {
      max_late_ms.store(late, std::memory_order_relaxed);
    }
  }

  // Reads every message waiting on the socket.
  void Drain() {
    const int fd = nfq_fd(handle);
    for (;;) {
      ssize_t n = recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n > 0) {
        nfq_handle_packet(handle, buffer.data(), static_cast<int>(n));
        continue;
      }
      if (n < 0 && errno == ENOBUFS) {
        overruns.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      return;  // EAGAIN (empty) or error
    }
  }

  void ReleaseDue() {
    int64_t now = MonotonicNs();
    while (!heap.empty() && heap.top().due_ns <= now) {
      Accept(heap.top(), now);
      heap.pop();
      now = MonotonicNs();
    }
    int64_t next = heap.empty() ? 0 : heap.top().due_ns;
    if (next == armed_ns) return;
    itimerspec spec{};
    spec.it_value.tv_sec = next / 1'000'000'000;
    spec.it_value.tv_nsec = next % 1'000'000'000;
    timerfd_settime(timer.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
    armed_ns = next;
  }

  void Run() {
    pollfd fds[3] = {{nfq_fd(handle), POLLIN, 0}, {timer.get(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
    for (;;) {
      if (poll(fds, 3, -1) < 0 && errno != EINTR) break;
      if (fds[1].revents & POLLIN) {
        uint64_t expirations;
        (void)!read(timer.get(), &expirations, sizeof(expirations));
        armed_ns = -1;  // fired: re-arm on the next ReleaseDue
      }
      if (fds[0].revents & POLLIN) Drain();
      if (fds[2].revents & POLLIN) break;
      ReleaseDue();
      UpdateCpu();
    }
    // Stop: whatever is queued to us or held goes out now.
    Drain();
    const int64_t now = MonotonicNs();
    while (!heap.empty()) {
      Accept(heap.top(), now);
      heap.pop();
    }
    UpdateCpu();
  }

  void UpdateCpu() {
    timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) {
      cpu_ns.store(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec, std::memory_order_relaxed);
    }
  }
};

QueueLoop::QueueLoop(std::unique_ptr<State> state) : state_(std::move(state)) {}

QueueLoop::~QueueLoop() { Stop(); }

uint16_t QueueLoop::queue_num() const { return state_->queue_num; }

absl::StatusOr<std::unique_ptr<QueueLoop>> QueueLoop::Start(const DelayProfile& profile,
                                                            uint16_t first, uint16_t last) {
  auto state = std::make_unique<State>(profile);
  state->handle = nfq_open();
  if (state->handle == nullptr) {
    return faultline::ErrnoToStatus(errno, "nfqueue: open netlink socket");
  }
  for (uint32_t num = first; num <= last && state->queue == nullptr; ++num) {
    errno = 0;
    state->queue = nfq_create_queue(state->handle, static_cast<uint16_t>(num), &State::OnPacket,
                                    state.get());
    if (state->queue != nullptr) {
      state->queue_num = static_cast<uint16_t>(num);
    } else if (errno == EPERM) {
      return absl::PermissionDeniedError(absl::StrCat("nfqueue: bind queue ", num,
                                                      ": operation not permitted"));
    }
  }
  if (state->queue == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("nfqueue: every queue number in ", first, "..", last, " is taken"));
  }
  const std::string what = absl::StrCat("nfqueue: configure queue ", state->queue_num);
  if (nfq_set_mode(state->queue, NFQNL_COPY_META, 0) < 0) {
    return faultline::ErrnoToStatus(errno, what + " copy mode");
  }
  nfq_set_queue_maxlen(state->queue, kQueueMaxLen);
  const uint32_t flags = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;
  if (nfq_set_queue_flags(state->queue, flags, flags) < 0) {
    return faultline::ErrnoToStatus(errno, what + " flags");
  }
  nfnl_rcvbufsiz(nfq_nfnlh(state->handle), kSocketBuffer);
  int on = 1;
  setsockopt(nfq_fd(state->handle), SOL_NETLINK, NETLINK_NO_ENOBUFS, &on, sizeof(on));

  state->timer.Reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  state->wake.Reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!state->timer.valid() || !state->wake.valid()) {
    return faultline::ErrnoToStatus(errno, "nfqueue: timerfd/eventfd");
  }
  State* raw = state.get();
  state->thread = std::thread([raw] {
    RaisePriority();
    raw->Run();
  });
  return std::unique_ptr<QueueLoop>(new QueueLoop(std::move(state)));
}

void QueueLoop::Stop() {
  std::call_once(state_->stopped, [this] {
    uint64_t one = 1;
    (void)!write(state_->wake.get(), &one, sizeof(one));
    if (state_->thread.joinable()) state_->thread.join();
    nfq_destroy_queue(state_->queue);
    state_->queue = nullptr;
    nfq_close(state_->handle);
    state_->handle = nullptr;
  });
}

QueueLoopStats QueueLoop::stats() const {
  QueueLoopStats out;
  out.received = state_->received.load(std::memory_order_relaxed);
  out.released = state_->released.load(std::memory_order_relaxed);
  out.held = out.received >= out.released ? out.received - out.released : 0;
  out.overruns = state_->overruns.load(std::memory_order_relaxed);
  out.mean_hold_ms = state_->mean_hold_ms.load(std::memory_order_relaxed);
  out.max_late_ms = state_->max_late_ms.load(std::memory_order_relaxed);
  out.cpu_ms = state_->cpu_ns.load(std::memory_order_relaxed) / 1e6;
  return out;
}

}  // namespace faultline::agent
