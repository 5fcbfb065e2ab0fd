#include "agent/faults/network/queue_loop.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using std::chrono::microseconds;

struct Moments {
  double mean_ms = 0, deviation_ms = 0, min_ms = 1e18, max_ms = 0, lag1 = 0;
};

Moments Sample(DelayProfile profile, int n = 200000) {
  profile.seed = 42;
  DelaySampler sampler(profile);
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(sampler.Next().count() / 1e6);
  Moments m;
  for (double x : v) {
    m.mean_ms += x / n;
    m.min_ms = std::min(m.min_ms, x);
    m.max_ms = std::max(m.max_ms, x);
  }
  double var = 0, cov = 0;
  for (int i = 0; i < n; ++i) {
    var += (v[i] - m.mean_ms) * (v[i] - m.mean_ms) / n;
    if (i > 0) cov += (v[i] - m.mean_ms) * (v[i - 1] - m.mean_ms) / (n - 1);
  }
  m.deviation_ms = std::sqrt(var);
  m.lag1 = cov / var;
  return m;
}

DelayProfile Profile(DelayShape shape, double correlation = 0) {
  DelayProfile p;
  p.delay = microseconds(50'000);
  p.jitter = microseconds(10'000);
  p.shape = shape;
  p.correlation = correlation;
  return p;
}

TEST(DelaySamplerTest, NoJitterIsExact) {
  DelayProfile p;
  p.delay = microseconds(1234);
  DelaySampler sampler(p);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sampler.Next().count(), 1'234'000);
}

TEST(DelaySamplerTest, UniformStaysInRange) {
  Moments m = Sample(Profile(DelayShape::kUniform));
  EXPECT_NEAR(m.mean_ms, 50.0, 0.1);
  EXPECT_NEAR(m.deviation_ms, 10.0 / std::sqrt(3.0), 0.1);
  EXPECT_GE(m.min_ms, 40.0);
  EXPECT_LE(m.max_ms, 60.0);
}

TEST(DelaySamplerTest, NormalParetoAndParetoNormalHaveTheRequestedDeviation) {
  for (DelayShape shape : {DelayShape::kNormal, DelayShape::kPareto, DelayShape::kParetoNormal}) {
    Moments m = Sample(Profile(shape));
    EXPECT_NEAR(m.mean_ms, 50.0, 0.3) << static_cast<int>(shape);
    EXPECT_NEAR(m.deviation_ms, 10.0, 1.0) << static_cast<int>(shape);
    EXPECT_GE(m.min_ms, 0.0);
  }
  // Pareto's tail is on the slow side: the lowest hold is near delay - 0.58 jitter.
  Moments pareto = Sample(Profile(DelayShape::kPareto));
  EXPECT_GT(pareto.min_ms, 50.0 - 10.0 * 0.6);
  EXPECT_GT(pareto.max_ms, 100.0);
}

TEST(DelaySamplerTest, CorrelationLeansOnThePreviousSample) {
  EXPECT_NEAR(Sample(Profile(DelayShape::kNormal)).lag1, 0.0, 0.02);
  Moments m = Sample(Profile(DelayShape::kNormal, 0.75));
  EXPECT_NEAR(m.lag1, 0.75, 0.03);
  EXPECT_NEAR(m.deviation_ms, 10.0, 0.5);
}

}  // namespace
}  // namespace faultline::agent
