// Journal throughput: events per second appended to the SQLite journal, for
// each durability setting, from one thread and from several at once (the run
// engine appends from its lease, probe and per-host threads). Google
// Benchmark; items_per_second is the figure quoted in the README.
//
//   faultline-bench-journal [--benchmark_min_time=2]
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "controller/store/sqlite_store.h"

namespace faultline::controller {
namespace {

// One journal file per benchmark in a fresh directory on the same file
// system as the default journal (/var/tmp is disk-backed, /tmp may be tmpfs
// and would flatter fsync).
struct Journal {
  Journal(JournalDurability durability) {
    dir = absl::StrCat("/var/tmp/faultline-bench-journal-", getpid(), "-", counter++);
    std::filesystem::create_directories(dir);
    auto opened = OpenSqliteStore(dir + "/journal.db", JournalOptions{durability});
    if (!opened.ok()) std::abort();
    store = std::move(*opened);
    RunRecord run;
    run.experiment = "bench";
    run.experiment_path = "bench.yaml";
    auto created = store->CreateRun(run);
    if (!created.ok()) std::abort();
    run_id = created->run_id;
  }
  ~Journal() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
  static inline std::atomic<int> counter{0};
  std::string dir;
  std::unique_ptr<JournalStore> store;
  std::string run_id;
};

// A typical event: a probe result.
const nlohmann::json kEvent = {{"probe", "health"}, {"phase", "during"}, {"ok", true},
                               {"latency_us", 1834}, {"detail", "status 200"}};

std::unique_ptr<Journal> shared_journal;

void BM_Append(benchmark::State& state) {
  const auto durability = static_cast<JournalDurability>(state.range(0));
  if (state.thread_index() == 0) shared_journal = std::make_unique<Journal>(durability);
  // Google Benchmark starts the timed loop of all threads together, after
  // thread 0's setup above.
  for (auto _ : state) {
    if (!shared_journal->store->Append(shared_journal->run_id, "probe.result", kEvent).ok()) {
      state.SkipWithError("append failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    state.SetLabel(durability == JournalDurability::kFull ? "full" : "normal");
  }
}

BENCHMARK(BM_Append)
    ->Arg(static_cast<int>(JournalDurability::kFull))
    ->Arg(static_cast<int>(JournalDurability::kNormal))
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime();

}  // namespace
}  // namespace faultline::controller

BENCHMARK_MAIN();
