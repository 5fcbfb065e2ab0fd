// FanOut: the run engine's one way to talk to many agents at once — a fault
// step's hosts, reverts after an abort, capability checks, observations. Each
// agent call carries its own deadline (AgentClient), so with every call on
// its own thread one hung host delays nobody beyond that deadline.
#ifndef FAULTLINE_CONTROLLER_RUN_FAN_OUT_H_
#define FAULTLINE_CONTROLLER_RUN_FAN_OUT_H_

#include <cstddef>
#include <functional>

namespace faultline::controller {

// Calls fn(0), ..., fn(n - 1), at most `max_threads` (>= 1) of them at once,
// and returns when every call has returned. n == 1 runs on the calling
// thread. `fn` must be safe to call concurrently and must not throw.
void FanOut(size_t n, size_t max_threads, const std::function<void(size_t)>& fn);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_RUN_FAN_OUT_H_
