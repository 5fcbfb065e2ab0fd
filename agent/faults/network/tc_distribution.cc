#include "agent/faults/network/tc_distribution.h"

#include <algorithm>
#include <cmath>

namespace faultline::agent {
namespace {

constexpr int kTableSize = 4096;
constexpr double kClip = 32767.0 / kNetemDistScale;  // +-4 standard deviations

double NormalCdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Inverse of NormalCdf by bisection: exact to double precision, and only
// ever run 4096 + 256 times per process.
double NormalQuantile(double p) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-12; ++i) {
    const double mid = (lo + hi) / 2;
    (NormalCdf(mid) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

// Pareto with shape 3 and scale 1: mean 1.5, variance 0.75.
double ParetoQuantile(double p) { return std::pow(1.0 - p, -1.0 / 3.0); }

// `n` quantiles of a distribution at the midpoints (i + 0.5) / n.
template <typename Quantile>
std::vector<double> Quantiles(int n, Quantile quantile) {
  std::vector<double> out(n);
  for (int i = 0; i < n; ++i) out[i] = quantile((i + 0.5) / n);
  return out;
}

// Standardises (mean 0, sd 1), clips to the int16 range, and repeats so the
// clipped table is still centred with unit spread; then scales to int16.
std::vector<int16_t> ToTable(std::vector<double> values) {
  for (int round = 0; round < 8; ++round) {
    double mean = 0;
    for (double v : values) mean += v;
    mean /= values.size();
    double var = 0;
    for (double v : values) var += (v - mean) * (v - mean);
    const double sd = std::sqrt(var / values.size());
    for (double& v : values) v = std::clamp((v - mean) / sd, -kClip, kClip);
  }
  std::vector<int16_t> table(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    table[i] = static_cast<int16_t>(std::lround(values[i] * kNetemDistScale));
  }
  return table;
}

std::vector<int16_t> BuildNormal() { return ToTable(Quantiles(kTableSize, NormalQuantile)); }

std::vector<int16_t> BuildPareto() { return ToTable(Quantiles(kTableSize, ParetoQuantile)); }

// The mixture's quantiles from the sorted sums over a grid of both
// distributions' quantiles (256 x 256 equally likely pairs).
std::vector<int16_t> BuildParetoNormal() {
  constexpr int kGrid = 256;
  const std::vector<double> pareto = Quantiles(kGrid, ParetoQuantile);
  const std::vector<double> normal = Quantiles(kGrid, NormalQuantile);
  const double pareto_sd = std::sqrt(0.75);
  std::vector<double> sums;
  sums.reserve(kGrid * kGrid);
  for (double p : pareto) {
    for (double n : normal) sums.push_back(0.25 * (p - 1.5) / pareto_sd + 0.75 * n);
  }
  std::sort(sums.begin(), sums.end());
  std::vector<double> values(kTableSize);
  for (int i = 0; i < kTableSize; ++i) {
    values[i] = sums[static_cast<size_t>((i + 0.5) * sums.size() / kTableSize)];
  }
  return ToTable(std::move(values));
}

}  // namespace

const std::vector<int16_t>& NetemDistributionTable(v1::DelayDistribution distribution) {
  static const std::vector<int16_t> kNone;
  switch (distribution) {
    case v1::DELAY_DISTRIBUTION_NORMAL: {
      static const std::vector<int16_t> table = BuildNormal();
      return table;
    }
    case v1::DELAY_DISTRIBUTION_PARETO: {
      static const std::vector<int16_t> table = BuildPareto();
      return table;
    }
    case v1::DELAY_DISTRIBUTION_PARETONORMAL: {
      static const std::vector<int16_t> table = BuildParetoNormal();
      return table;
    }
    default:
      return kNone;
  }
}

}  // namespace faultline::agent
