// QueueLoop: the userspace half of the NFQUEUE delay engine (network.delay
// where the kernel has no netem). An nftables rule sends matching packets to
// NFQUEUE number N; this loop, bound to N, receives each packet's metadata
// (not its payload), gives it a due time now + DelaySampler::Next(), keeps a
// min-heap of due times and issues NF_ACCEPT when a packet is due. A timerfd
// armed at the earliest due time (absolute CLOCK_MONOTONIC) wakes the loop,
// so the hold error is the wake-up latency (tens of microseconds), not a
// poll() timeout in whole milliseconds. The loop thread asks for SCHED_FIFO
// priority 1 (else nice -20) so a busy host does not add its run-queue wait.
//
// Fail-open on every path: the rule carries NFQ_FLAG_BYPASS (no listener ->
// packets pass), the queue is configured with NFQA_CFG_F_FAIL_OPEN (queue
// full -> packets pass undelayed). If the process dies, the kernel drops the
// packets held at that moment (at most `delay` worth of traffic) and, thanks
// to the bypass flag, lets everything after them through.
//
// The netlink socket belongs to the network namespace of the thread that
// called Start(); the loop thread may run anywhere. Thread-safe: stats() and
// Stop() may be called from any thread.
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_QUEUE_LOOP_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_QUEUE_LOOP_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>

#include "absl/status/statusor.h"

namespace faultline::agent {

enum class DelayShape { kUniform, kNormal, kPareto, kParetoNormal };

struct DelayProfile {
  std::chrono::microseconds delay{0};
  std::chrono::microseconds jitter{0};  // uniform: +-jitter; others: standard deviation
  double correlation = 0;               // 0..1, each sample leans on the previous one
  DelayShape shape = DelayShape::kUniform;
  uint64_t seed = 0;                    // 0 = from std::random_device
};

// The sequence of hold times for a profile. Uniform: delay + U(-jitter,
// jitter). Normal: delay + jitter * N(0,1). Pareto: delay + jitter * Z, Z a
// Pareto(alpha 3) variate shifted and scaled to mean 0 and deviation 1 (long
// tail above the delay, like netem's table). Paretonormal: 1/4 normal + 3/4
// Pareto, rescaled to deviation 1. Correlation c mixes each standardised
// sample with the previous one: z = c * prev + sqrt(1 - c^2) * fresh. Hold
// times are clamped at zero. Not thread-safe.
class DelaySampler {
 public:
  explicit DelaySampler(const DelayProfile& profile);
  std::chrono::nanoseconds Next();

 private:
  double Fresh();
  DelayProfile profile_;
  std::mt19937_64 random_;
  double last_ = 0;
};

struct QueueLoopStats {
  uint64_t received = 0;       // packets the kernel queued to us
  uint64_t released = 0;       // packets accepted after their hold
  uint64_t held = 0;           // packets held right now
  uint64_t overruns = 0;       // socket overruns (ENOBUFS): packets we never saw
  double mean_hold_ms = 0;     // measured receive -> verdict time of released packets
  double max_late_ms = 0;      // largest verdict time minus due time
  double cpu_ms = 0;           // CPU time the loop thread has used
};

class QueueLoop {
 public:
  // NFQUEUE numbers Start() tries, in order, when none is given.
  static constexpr uint16_t kFirstQueue = 31000;
  static constexpr uint16_t kLastQueue = 31999;

  // Binds the first free queue number in [first, last] in the calling
  // thread's network namespace and starts the loop thread. PermissionDenied
  // without CAP_NET_ADMIN; ResourceExhausted when every number in the range
  // is bound by another program; Internal on other netlink failures.
  static absl::StatusOr<std::unique_ptr<QueueLoop>> Start(const DelayProfile& profile,
                                                          uint16_t first = kFirstQueue,
                                                          uint16_t last = kLastQueue);
  ~QueueLoop();  // Stop()
  QueueLoop(const QueueLoop&) = delete;
  QueueLoop& operator=(const QueueLoop&) = delete;

  uint16_t queue_num() const;

  // Reads every packet already queued to us, accepts it and every held
  // packet at once, stops the thread and unbinds the queue. Call after the
  // rule that feeds the queue is gone, so nothing new arrives. Idempotent.
  void Stop();

  QueueLoopStats stats() const;

  struct State;  // implementation, in queue_loop.cc

 private:
  explicit QueueLoop(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_QUEUE_LOOP_H_
