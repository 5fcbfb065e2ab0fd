// Delay distribution tables for netem (TCA_NETEM_DELAY_DIST), generated in
// the agent instead of read from iproute2's /usr/lib/.../tc/*.dist files, so
// the agent needs no iproute2 on the host (or in the netem test VM).
//
// A table is netem's inverse-CDF format: 4096 signed 16-bit samples of a
// distribution with mean 0 and standard deviation 1, in units of
// 1/NETEM_DIST_SCALE (8192); netem picks one at random per packet and
// returns delay + sample * jitter / 8192. Samples are quantiles, so the
// table is deterministic; tails beyond +-4 standard deviations (the int16
// range) are clipped and the table re-centred and re-scaled afterwards.
//
//   normal        the standard normal distribution
//   pareto        Pareto with shape 3, standardised
//   paretonormal  0.25 * pareto + 0.75 * normal (independent), standardised
//
// Thread-safe: tables are built once on first use.
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_TC_DISTRIBUTION_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_TC_DISTRIBUTION_H_

#include <cstdint>
#include <vector>

#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

constexpr int kNetemDistScale = 8192;

// The table for `distribution`; empty for UNSPECIFIED and UNIFORM (netem's
// built-in uniform jitter needs none).
const std::vector<int16_t>& NetemDistributionTable(v1::DelayDistribution distribution);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_TC_DISTRIBUTION_H_
