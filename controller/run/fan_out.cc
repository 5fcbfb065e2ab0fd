#include "controller/run/fan_out.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace faultline::controller {

void FanOut(size_t n, size_t max_threads, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (n == 1) {
    fn(0);
    return;
  }
  // Workers pull indices, so a slow call holds one worker, not a batch.
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  const size_t threads = std::min(n, std::max<size_t>(1, max_threads));
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
}

}  // namespace faultline::controller
