// Precision of the network engines: requested vs measured, on real traffic
// between the namespaces of a test lab (tests/netlab.h, 3 hosts on a bridge,
// 198.18.0.0/24). Every fault is built by the agent's fault factory with the
// kernel support detected here (so the engine is the one an agent on this
// host would choose), applied inside host h0's network namespace, measured,
// reverted, and h0's tc/nft/link state is checked against the state before.
//
//   tbf / htb   TCP goodput with iperf3 (-O 1) and the shaper's own output
//               rate (qdisc byte counter over a window in the middle of the
//               run; it counts whole frames, goodput tops at ~95.6% of it,
//               and iperf3's short run also counts the queue drained at its
//               end, up to +2.5% at 10 mbit)
//   nftables    loss of 2000 ICMP echos and 2000 UDP datagrams, and the
//               engine's own counters; partition: packets received in both
//               directions, a third peer untouched
//   nfqueue     ping RTT minus the baseline median: median and p99 of the
//               added delay; jitter: interquartile range and standard
//               deviation vs the distribution's theory. This VM's vCPUs now
//               and then stall for ~100 ms (a plain SCHED_FIFO timer thread
//               sees it too); a run whose queue loop released a packet more
//               than 5 ms late is measured again, with a note.
//
// With --vm, scripts/netem-vm BUILD_DIR runs in a qemu VM with a stock Debian
// kernel (netem; needs the kernel cache, ~1-2 min) and its lines
// "precision<TAB>netem<TAB><fault><TAB><requested><TAB><measured>" become
// rows of the same table (FAULTLINE_NETEM_VM names another script to run
// instead, e.g. a stub when working on this driver). Prints a markdown table
// on stdout, progress on stderr. Run as root. Takes ~60 s without --vm.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/faults/fault_factory.h"
#include "agent/faults/network/support.h"
#include "spdlog/spdlog.h"
#include "tests/netlab.h"
#include "tests/test_util.h"

namespace {

using faultline::agent::Fault;
using faultline::agent::FaultContext;
using faultline::agent::Observation;
using faultline::testing::NetLab;
using faultline::testing::PingResult;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct Row {
  std::string engine, fault, requested, measured, error;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(rank);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (rank - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double StdDev(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double sum2 = 0;
  for (double x : v) sum2 += (x - mean) * (x - mean);
  return std::sqrt(sum2 / static_cast<double>(v.size() - 1));
}

std::string Signed(double value, const char* unit, int digits = 2) {
  return absl::StrFormat("%+.*f %s", digits, value, unit);
}

class Bench {
 public:
  explicit Bench(std::unique_ptr<NetLab> lab) : lab_(std::move(lab)) {
    support_ = faultline::agent::DetectNetworkSupport();
  }

  const faultline::agent::NetworkSupport& support() const { return support_; }
  NetLab& lab() { return *lab_; }
  std::vector<Row>& rows() { return rows_; }
  int problems() const { return problems_; }

  // Builds the fault the agent would build on this host and applies it in
  // h0; returns nullptr (and counts a problem) on error.
  std::unique_ptr<Fault> Apply(const faultline::v1::FaultSpec& spec, const std::string& id) {
    before_ = lab_->Snapshot(0);
    FaultContext context;
    context.fault_id = id;
    context.network = support_;
    auto made = faultline::agent::MakeFault(spec, context);
    if (!made.ok()) {
      Problem("make " + id + ": " + made.status().ToString());
      return nullptr;
    }
    std::unique_ptr<Fault> fault = std::move(*made);
    absl::Status applied = lab_->RunIn(0, [&]() -> absl::Status {
      absl::Status prepared = fault->Prepare();
      return prepared.ok() ? fault->Apply() : prepared;
    });
    if (!applied.ok()) {
      Problem("apply " + id + ": " + applied.ToString());
      (void)lab_->RunIn(0, [&] { return fault->Revert(); });
      return nullptr;
    }
    std::fprintf(stderr, "  applied %s (engine %s, %s)\n", id.c_str(), fault->engine().c_str(),
                 fault->target().c_str());
    return fault;
  }

  Observation Observe(Fault& fault) {
    Observation out;
    (void)lab_->RunIn(0, [&] {
      out = fault.Observe();
      return absl::OkStatus();
    });
    return out;
  }

  void Revert(std::unique_ptr<Fault> fault) {
    if (fault == nullptr) return;
    absl::Status reverted = lab_->RunIn(0, [&] { return fault->Revert(); });
    if (!reverted.ok()) Problem("revert: " + reverted.ToString());
    if (lab_->Snapshot(0) != before_) Problem("h0's tc/nft/link state differs after revert");
  }

  void Add(Row row) {
    std::fprintf(stderr, "  %s | %s | %s | %s | %s\n", row.engine.c_str(), row.fault.c_str(),
                 row.requested.c_str(), row.measured.c_str(), row.error.c_str());
    rows_.push_back(std::move(row));
  }

  void Note(const std::string& what) {
    std::fprintf(stderr, "note: %s\n", what.c_str());
    notes_.push_back(what);
  }
  const std::vector<std::string>& notes() const { return notes_; }

  void Problem(const std::string& what) {
    std::fprintf(stderr, "PROBLEM: %s\n", what.c_str());
    ++problems_;
  }

  // iperf3 from h`from` to h`to` for `seconds` (plus one omitted second);
  // TCP goodput in Mbit/s as the receiver measured it, -1 on failure.
  // `during`, if set, runs on this thread while the client runs.
  double Goodput(int from, int to, int seconds, const std::function<void()>& during = {}) {
    faultline::testing::TempDir dir;
    faultline::testing::Child server =
        lab_->Spawn(to, {"/usr/bin/iperf3", "-s", "-1", "-B", NetLab::Address(to), "-p", "5302"},
                    dir.File("server.log"));
    for (int attempt = 0; attempt < 250; ++attempt) {
      std::string listening;
      lab_->Exec(to, {"/usr/bin/ss", "-Hltn", "sport = :5302"}, &listening);
      if (listening.find("LISTEN") != std::string::npos) break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    std::string output;
    int rc = -1;
    std::thread client([&] {
      rc = lab_->Exec(from,
                      {"/usr/bin/iperf3", "-c", NetLab::Address(to), "-p", "5302", "-O", "1", "-t",
                       std::to_string(seconds), "-J"},
                      &output, std::chrono::seconds(seconds + 30));
    });
    if (during) during();
    client.join();
    const std::string key = "\"sum_received\":";
    const size_t at = output.find(key);
    const size_t bps = at == std::string::npos ? at : output.find("\"bits_per_second\":", at);
    if (rc != 0 || bps == std::string::npos) {
      Problem("iperf3 h" + std::to_string(from) + "->h" + std::to_string(to) + " failed: " +
              output.substr(0, 300));
      return -1;
    }
    return std::stod(output.substr(bps + 18)) / 1e6;
  }

  std::optional<PingResult> Ping(int to, int count, microseconds interval) {
    auto ping = lab_->Ping(0, to, count, interval);
    if (!ping.ok()) {
      Problem("ping: " + ping.status().ToString());
      return std::nullopt;
    }
    return *ping;
  }

 private:
  std::unique_ptr<NetLab> lab_;
  faultline::agent::NetworkSupport support_;
  std::vector<Row> rows_;
  std::vector<std::string> notes_;
  std::string before_;
  int problems_ = 0;
};

faultline::v1::FaultSpec Bandwidth(uint64_t rate_bps, const std::string& destination = "") {
  faultline::v1::FaultSpec spec;
  auto* b = spec.mutable_network_bandwidth();
  b->set_rate_bps(rate_bps);
  b->mutable_target()->set_interface(NetLab::kInterface);
  if (!destination.empty()) b->mutable_target()->add_destinations(destination);
  return spec;
}

faultline::v1::FaultSpec Loss(double percent, const std::string& destination) {
  faultline::v1::FaultSpec spec;
  spec.mutable_network_loss()->set_percent(percent);
  spec.mutable_network_loss()->mutable_target()->add_destinations(destination);
  return spec;
}

faultline::v1::FaultSpec Delay(int delay_ms, int jitter_ms, faultline::v1::DelayDistribution d,
                               const std::string& destination) {
  faultline::v1::FaultSpec spec;
  auto* delay = spec.mutable_network_delay();
  delay->set_delay_us(static_cast<uint64_t>(delay_ms) * 1000);
  delay->set_jitter_us(static_cast<uint64_t>(jitter_ms) * 1000);
  delay->set_distribution(d);
  delay->mutable_target()->add_destinations(destination);
  return spec;
}

// Bandwidth: goodput over `seconds` and the shaper's output rate (qdisc
// bytes, frames included) between 1.5 s and seconds - 0.5 s of the run.
void BandwidthCase(Bench& bench, const std::string& id, uint64_t rate_bps, int seconds,
                   const std::string& destination) {
  auto fault = bench.Apply(Bandwidth(rate_bps, destination), id);
  if (fault == nullptr) return;
  const std::string engine = fault->engine();
  const double cap = static_cast<double>(rate_bps) / 1e6;
  double shaper_mbit = -1;
  double goodput = bench.Goodput(0, 1, seconds, [&] {
    std::this_thread::sleep_for(milliseconds(1500));
    auto t0 = Clock::now();
    double b0 = bench.Observe(*fault)["bytes"];
    std::this_thread::sleep_for(milliseconds(seconds * 1000 - 1000));
    auto t1 = Clock::now();
    double b1 = bench.Observe(*fault)["bytes"];
    shaper_mbit = (b1 - b0) * 8 / std::chrono::duration<double>(t1 - t0).count() / 1e6;
  });
  std::string what = absl::StrFormat("bandwidth %g mbit%s", cap,
                                     destination.empty() ? "" : " (filtered to h1)");
  std::string requested = absl::StrFormat("%.2f Mbit/s", cap);
  if (goodput > 0) {
    bench.Add({engine, what + ", tcp goodput", requested, absl::StrFormat("%.3f Mbit/s", goodput),
               Signed(100.0 * (goodput - cap) / cap, "%", 1)});
  }
  if (shaper_mbit > 0) {
    bench.Add({engine, what + ", shaper output (frames)", requested,
               absl::StrFormat("%.3f Mbit/s", shaper_mbit),
               Signed(100.0 * (shaper_mbit - cap) / cap, "%", 1)});
  }
  if (!destination.empty()) {
    double other = bench.Goodput(0, 2, 2);
    if (other > 0) {
      bench.Add({engine, what + ", other peer h2", "unshaped",
                 absl::StrFormat("%.0f Mbit/s", other),
                 other > 10 * cap ? "not shaped" : "SHAPED"});
    }
  }
  bench.Revert(std::move(fault));
}

void LossCase(Bench& bench, double percent, int n) {
  auto fault = bench.Apply(Loss(percent, NetLab::Address(1) + "/32"),
                           absl::StrFormat("loss%g", percent));
  if (fault == nullptr) return;
  const std::string engine = fault->engine();
  const double sigma = 100.0 * std::sqrt(percent / 100.0 * (1 - percent / 100.0) / n);
  auto ping = bench.Ping(1, n, microseconds(1000));
  auto udp = bench.lab().UdpLoss(0, 1, NetLab::Address(1), n, microseconds(500));
  Observation seen = bench.Observe(*fault);
  const std::string requested = absl::StrFormat("%.2f %%", percent);
  auto row = [&](const std::string& proto, double measured) {
    bench.Add({engine, absl::StrFormat("loss %g%%, %s n=%d", percent, proto, n), requested,
               absl::StrFormat("%.2f %%", measured),
               absl::StrFormat("%+.2f pt (1 sigma %.2f pt)", measured - percent, sigma)});
  };
  if (ping) row("icmp", ping->loss_pct);
  if (udp.ok()) row("udp", udp->loss_pct);
  if (seen.count("loss_pct") != 0) {
    bench.Add({engine, absl::StrFormat("loss %g%%, kernel counters (%.0f packets)", percent,
                                       seen["packets_matched"]),
               requested, absl::StrFormat("%.2f %%", seen["loss_pct"]),
               absl::StrFormat("%+.2f pt", seen["loss_pct"] - percent)});
  }
  bench.Revert(std::move(fault));
}

void PartitionCase(Bench& bench) {
  faultline::v1::FaultSpec spec;
  spec.mutable_network_partition()->add_peers(NetLab::Address(1));
  auto fault = bench.Apply(spec, "partition");
  if (fault == nullptr) return;
  const std::string engine = fault->engine();
  auto out = bench.lab().UdpLoss(0, 1, NetLab::Address(1), 1000, microseconds(500));
  auto in = bench.lab().UdpLoss(1, 0, NetLab::Address(0), 1000, microseconds(500));
  auto ping = bench.Ping(1, 500, microseconds(1000));
  auto other = bench.Ping(2, 500, microseconds(1000));
  if (out.ok()) {
    bench.Add({engine, "partition h0|h1, udp h0->h1", "0 received",
               absl::StrFormat("%d of %d received", out->received, out->sent),
               out->received == 0 ? "0" : "LEAK"});
  }
  if (in.ok()) {
    bench.Add({engine, "partition h0|h1, udp h1->h0", "0 received",
               absl::StrFormat("%d of %d received", in->received, in->sent),
               in->received == 0 ? "0" : "LEAK"});
  }
  if (ping) {
    bench.Add({engine, "partition h0|h1, icmp h0->h1", "0 received",
               absl::StrFormat("%d of %d received", ping->received, ping->sent),
               ping->received == 0 ? "0" : "LEAK"});
  }
  if (other) {
    bench.Add({engine, "partition h0|h1, icmp h0->h2 (outside)", "all received",
               absl::StrFormat("%d of %d received", other->received, other->sent),
               other->received == other->sent ? "0" : "LOSS"});
  }
  bench.Revert(std::move(fault));
}

// Applies a delay fault, pings h1 `count` times every 2 ms, reverts. The
// host is a shared VM whose vCPUs now and then stall for up to ~100 ms (the
// length of a CFS quota period: the VM itself seems to be throttled when it
// is busy); the engine's own late_ms_max shows when its loop thread was held
// up. Such a run is measured again (at most 3 runs); the run with the
// smallest late_ms_max is kept, with a note.
std::optional<PingResult> MeasureDelay(Bench& bench, const faultline::v1::FaultSpec& spec,
                                       const std::string& id, int count, std::string* engine) {
  std::optional<PingResult> best;
  double best_late_ms = 0;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto fault = bench.Apply(spec, id);
    if (fault == nullptr) return best;
    *engine = fault->engine();
    std::optional<PingResult> ping = bench.Ping(1, count, microseconds(2000));
    const double late_ms = bench.Observe(*fault)["late_ms_max"];
    bench.Revert(std::move(fault));
    if (ping && (!best || late_ms < best_late_ms)) {
      best = ping;
      best_late_ms = late_ms;
    }
    if (late_ms <= 5.0) break;
    bench.Note(absl::StrFormat("%s: run %d: the queue loop released a packet %.1f ms late "
                               "(host stall)%s",
                               id, attempt, late_ms, attempt < 3 ? "; measured again" : ""));
  }
  return best;
}

void DelayCase(Bench& bench, int delay_ms, double base_median) {
  std::string engine;
  auto ping = MeasureDelay(
      bench, Delay(delay_ms, 0, faultline::v1::DELAY_DISTRIBUTION_UNSPECIFIED, NetLab::Address(1)),
      absl::StrFormat("delay%d", delay_ms), 1000, &engine);
  if (!ping) return;
  const double median = Percentile(ping->rtts_ms, 50) - base_median;
  const double p99 = Percentile(ping->rtts_ms, 99) - base_median;
  const std::string requested = absl::StrFormat("%d.000 ms", delay_ms);
  bench.Add({engine, absl::StrFormat("delay %d ms, added rtt median (n=%d)", delay_ms,
                                     ping->received),
             requested, absl::StrFormat("%.3f ms", median), Signed(median - delay_ms, "ms", 3)});
  bench.Add({engine, absl::StrFormat("delay %d ms, added rtt p99", delay_ms), requested,
             absl::StrFormat("%.3f ms", p99), Signed(p99 - delay_ms, "ms", 3)});
}

void JitterCase(Bench& bench, faultline::v1::DelayDistribution distribution, const char* name,
                double base_median, double base_sd) {
  std::string engine;
  auto ping = MeasureDelay(bench, Delay(50, 10, distribution, NetLab::Address(1)),
                           std::string("jitter-") + name, 1500, &engine);
  if (!ping) return;
  const bool uniform = distribution == faultline::v1::DELAY_DISTRIBUTION_UNIFORM;
  // Uniform on [-10, 10]: IQR 10, sd 10/sqrt(3); normal with sd 10: IQR 2 * 0.6745 * 10.
  const double iqr_theory = uniform ? 10.0 : 2 * 0.6744898 * 10.0;
  const double sd_theory = uniform ? 10.0 / std::sqrt(3.0) : 10.0;
  const double median = Percentile(ping->rtts_ms, 50) - base_median;
  const double iqr = Percentile(ping->rtts_ms, 75) - Percentile(ping->rtts_ms, 25);
  // The baseline RTT's own spread adds in quadrature; remove it.
  auto fault_sd = [&](const std::vector<double>& rtts) {
    const double sd = StdDev(rtts);
    return std::sqrt(std::max(0.0, sd * sd - base_sd * base_sd));
  };
  const double sd_fault = fault_sd(ping->rtts_ms);
  // A stalled vCPU delays the read of a reply (the RTT ends when the reply
  // is read) by up to ~100 ms, and a few such RTTs dominate a deviation.
  // Without RTTs more than 4 deviations from the requested delay (a genuine
  // sample lands there with probability 6e-5 for normal, never for uniform):
  std::vector<double> central;
  for (double rtt : ping->rtts_ms) {
    if (std::abs(rtt - base_median - 50.0) <= 4 * sd_theory) central.push_back(rtt);
  }
  const double sd_central = fault_sd(central);
  const size_t outliers = ping->rtts_ms.size() - central.size();
  std::fprintf(stderr, "  %s rtt percentiles 0/1/5/25/50/75/95/99/100: %.2f %.2f %.2f %.2f %.2f %.2f "
               "%.2f %.2f %.2f ms\n", name, Percentile(ping->rtts_ms, 0),
               Percentile(ping->rtts_ms, 1), Percentile(ping->rtts_ms, 5),
               Percentile(ping->rtts_ms, 25), Percentile(ping->rtts_ms, 50),
               Percentile(ping->rtts_ms, 75), Percentile(ping->rtts_ms, 95),
               Percentile(ping->rtts_ms, 99), Percentile(ping->rtts_ms, 100));
  const std::string what = absl::StrFormat("jitter 50±10 ms %s", name);
  bench.Add({engine, what + absl::StrFormat(", added rtt median (n=%d)", ping->received),
             "50.000 ms", absl::StrFormat("%.3f ms", median), Signed(median - 50, "ms", 3)});
  bench.Add({engine, what + ", rtt IQR", absl::StrFormat("%.3f ms", iqr_theory),
             absl::StrFormat("%.3f ms", iqr),
             Signed(100 * (iqr - iqr_theory) / iqr_theory, "%", 1)});
  bench.Add({engine, what + ", rtt sd", absl::StrFormat("%.3f ms", sd_theory),
             absl::StrFormat("%.3f ms", sd_fault),
             Signed(100 * (sd_fault - sd_theory) / sd_theory, "%", 1)});
  bench.Add({engine,
             what + absl::StrFormat(", rtt sd without %zu RTTs beyond 4 sd (host stalls)", outliers),
             absl::StrFormat("%.3f ms", sd_theory), absl::StrFormat("%.3f ms", sd_central),
             Signed(100 * (sd_central - sd_theory) / sd_theory, "%", 1)});
}

// "100ms", "+100.6 ms", "10%", "9.8 % (n=1000)", "50±10 ms uniform: 50 ms",
// "1mbit" -> value in a base unit and the unit class, for the error column
// of VM rows. False for anything else (the error column then says "-").
bool ParseQuantity(std::string text, double* value, std::string* unit) {
  // "50±10 ms uniform: 50 ms" -> "50 ms"; "9.8% (n=1000)" -> "9.8%".
  if (size_t colon = text.rfind(':'); colon != std::string::npos) text = text.substr(colon + 1);
  if (size_t paren = text.find('('); paren != std::string::npos) text.resize(paren);
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  if (text.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) return false;
  std::string u(end);
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return std::tolower(c); });
  if (u == "ms") {
    *value = v, *unit = "ms";
  } else if (u == "us" || u == "µs") {
    *value = v / 1000, *unit = "ms";
  } else if (u == "s") {
    *value = v * 1000, *unit = "ms";
  } else if (u == "%" || u == "pct") {
    *value = v, *unit = "%";
  } else if (u == "mbit" || u == "mbit/s") {
    *value = v, *unit = "Mbit/s";
  } else if (u == "kbit" || u == "kbit/s") {
    *value = v / 1000, *unit = "Mbit/s";
  } else if (u.empty()) {
    *value = v, *unit = "";
  } else {
    return false;
  }
  return true;
}

// Runs scripts/netem-vm and turns its precision lines into rows.
void VmRows(Bench& bench, const std::string& source_dir, const std::string& build_dir) {
  std::string script = source_dir + "/scripts/netem-vm";
  if (const char* other = std::getenv("FAULTLINE_NETEM_VM"); other != nullptr && *other != 0) {
    script = other;
  }
  std::fprintf(stderr, "netem VM: %s %s (1-2 min)\n", script.c_str(), build_dir.c_str());
  std::string output;
  const auto start = Clock::now();
  int rc = faultline::testing::RunCommand({script, build_dir}, &output,
                                          std::chrono::seconds(330));
  std::fprintf(stderr, "netem VM: exit %d after %.0f s\n", rc,
               std::chrono::duration<double>(Clock::now() - start).count());
  int rows = 0;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() < 5 || f[0] != "precision") continue;
    double requested = 0, measured = 0;
    std::string ru, mu, error = "-";
    if (ParseQuantity(f[3], &requested, &ru) && ParseQuantity(f[4], &measured, &mu) && ru == mu) {
      if (ru == "%") {
        error = absl::StrFormat("%+.2f pt", measured - requested);
      } else if (requested != 0) {
        error = absl::StrFormat("%+.3f %s (%+.1f %%)", measured - requested, ru,
                                100 * (measured - requested) / requested);
      } else {
        error = absl::StrFormat("%+.3f %s", measured - requested, ru);
      }
    }
    bench.Add({f[1], f[2], f[3], f[4], error});
    ++rows;
  }
  if (rows == 0) {
    bench.Problem(absl::StrFormat(
        "netem-vm (exit %d) printed no \"precision<TAB>netem<TAB>...\" lines; last output:\n%s",
        rc, output.substr(output.size() > 2000 ? output.size() - 2000 : 0)));
  } else if (rc != 0) {
    // Its checks failed (the rows are still measurements): say which.
    bench.Problem(absl::StrFormat("netem-vm exited %d (rows kept: %d); its last lines:\n%s", rc,
                                  rows,
                                  output.substr(output.size() > 3000 ? output.size() - 3000 : 0)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  // The engines log their lifecycle at info on stdout; keep the table clean.
  spdlog::set_level(spdlog::level::warn);
  bool vm = false;
  std::string cases = "bandwidth,loss,partition,delay,jitter";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--vm") == 0) {
      vm = true;
    } else if (std::strncmp(argv[i], "--cases=", 8) == 0) {
      cases = argv[i] + 8;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--vm] [--cases=bandwidth,loss,partition,delay,jitter]\n"
                   "  precision of the host network engines in a netns lab (--cases= runs\n"
                   "  none); --vm also runs scripts/netem-vm (netem in a qemu VM) and adds\n"
                   "  its rows\n",
                   argv[0]);
      return 2;
    }
  }
  const std::vector<std::string> wanted = absl::StrSplit(cases, ',');
  auto want = [&](const char* name) {
    return std::find(wanted.begin(), wanted.end(), name) != wanted.end();
  };
  if (geteuid() != 0) {
    std::fprintf(stderr, "needs root (network namespaces)\n");
    return 2;
  }
  const auto start = Clock::now();
  auto lab = NetLab::Create(3);
  if (!lab.ok()) {
    std::fprintf(stderr, "lab: %s\n", lab.status().ToString().c_str());
    return 1;
  }
  Bench bench(std::move(*lab));
  const auto& s = bench.support();
  std::fprintf(stderr, "lab %s; support: netem=%d tbf=%d htb=%d nftables=%d nfqueue=%d\n",
               bench.lab().name().c_str(), s.netem, s.tbf, s.htb, s.nftables, s.nfqueue);

  auto base = bench.Ping(1, 1000, microseconds(2000));
  if (!base || base->received != base->sent) {
    std::fprintf(stderr, "baseline ping failed\n");
    return 1;
  }
  const double base_median = Percentile(base->rtts_ms, 50);
  const double base_sd = StdDev(base->rtts_ms);
  std::fprintf(stderr, "baseline rtt h0->h1: median %.3f ms, p99 %.3f ms, sd %.3f ms\n",
               base_median, Percentile(base->rtts_ms, 99), base_sd);

  if (want("bandwidth") && s.tbf) {
    BandwidthCase(bench, "tbf1", 1'000'000, 6, "");
    BandwidthCase(bench, "tbf10", 10'000'000, 6, "");
  }
  if (want("bandwidth") && s.htb && s.u32) {
    BandwidthCase(bench, "htb10", 10'000'000, 6, NetLab::Address(1));
  }
  // On a kernel with netem the agent picks netem for loss and delay; these
  // rows are about the fallbacks.
  if (want("loss") && s.nftables && !s.netem) {
    LossCase(bench, 10, 2000);
    LossCase(bench, 30, 2000);
  }
  if (want("partition") && s.nftables) PartitionCase(bench);
  if (want("delay") && s.nfqueue && !s.netem) {
    DelayCase(bench, 10, base_median);
    DelayCase(bench, 50, base_median);
  }
  if (want("jitter") && s.nfqueue && !s.netem) {
    JitterCase(bench, faultline::v1::DELAY_DISTRIBUTION_UNIFORM, "uniform", base_median, base_sd);
    JitterCase(bench, faultline::v1::DELAY_DISTRIBUTION_NORMAL, "normal", base_median, base_sd);
  }
  const double host_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (vm) {
    std::error_code ec;
    std::string build_dir =
        std::filesystem::weakly_canonical(faultline::testing::BinDir() + "/..", ec).string();
    if (ec || build_dir.empty()) build_dir = faultline::testing::BinDir() + "/..";
    VmRows(bench, FAULTLINE_SOURCE_DIR, build_dir);
  }

  std::printf("network engine precision: requested vs measured (host engines in a netns lab, "
              "baseline rtt median %.3f ms%s)\n\n",
              base_median, vm ? "; netem rows from scripts/netem-vm" : "");
  std::printf("| engine | fault | requested | measured | error |\n");
  std::printf("| --- | --- | --- | --- | --- |\n");
  for (const Row& r : bench.rows()) {
    std::printf("| %s | %s | %s | %s | %s |\n", r.engine.c_str(), r.fault.c_str(),
                r.requested.c_str(), r.measured.c_str(), r.error.c_str());
  }
  for (const std::string& note : bench.notes()) std::printf("\nnote: %s", note.c_str());
  std::printf("\nhost rows took %.0f s%s\n", host_seconds,
              bench.problems() ? absl::StrFormat("; %d PROBLEMS (see stderr)", bench.problems())
                                     .c_str()
                               : "");
  return bench.problems() == 0 ? 0 : 1;
}
