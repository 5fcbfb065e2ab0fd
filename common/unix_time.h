// The wall-clock time as Unix milliseconds: what journal events, alert
// timestamps and run records store, and what the controller compares them
// with. Header-only; thread-safe.
#ifndef FAULTLINE_COMMON_UNIX_TIME_H_
#define FAULTLINE_COMMON_UNIX_TIME_H_

#include <chrono>
#include <cstdint>

namespace faultline {

// Milliseconds since the Unix epoch by the system (wall) clock, truncated.
// Not monotonic: measure durations with std::chrono::steady_clock.
inline int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace faultline

#endif  // FAULTLINE_COMMON_UNIX_TIME_H_
