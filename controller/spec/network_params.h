// Parameters of the six network fault kinds: the YAML `params` mapping of a
// network.* step -> the v1 message sent to the agent (NetworkDelay,
// NetworkLoss, ...), plus a one-line summary. ReadFaultParams
// (fault_params.h) dispatches here for every network kind.
//
// YAML names (DESIGN.md catalogue):
//   every kind      interface, engine, protect_control_plane
//   all but         direction (egress | ingress), destinations, sources
//     partition     (lists of IPv4/IPv6 addresses or CIDRs), ports (list of
//                   1..65535), protocol (tcp | udp | icmp)
//   network.delay   delay (1us..60s), jitter (<= delay), correlation,
//                   distribution (uniform | normal | pareto | paretonormal),
//                   reorder: {percent, gap}
//   network.loss    percent, correlation, model (random | gilbert-elliott)
//                   with p, r, bad_loss (netem 1-h), good_loss (netem 1-k)
//   network.duplicate / network.corrupt   percent, correlation
//   network.bandwidth  rate (bits/s: 500kbit, 10mbit, 1gbit; see
//                   ParseBitRate), burst and limit (bytes: 32Ki, 64K)
//   network.partition  peers (CIDRs), direction (to | from | both), ports,
//                   protocol
// Percentages are numbers 0..100, written bare (25) or with a sign ("25%").
// `protect_control_plane: false` sets NetworkTarget.allow_control_plane.
//
// The checks are the proto's (faults.proto comments) plus what can be known
// without a host: an engine that cannot run the kind or a parameter
// (`engine: nftables` with a loss correlation), ports with icmp, a filtered
// `engine: tbf`, and the agent's caps (64 entries per address list, 64 ports,
// at most 256 classifier rules for destinations x sources x ports x
// protocols, destinations and sources sharing an address family). Limits,
// the prefix parser, the rule count and the engines per kind come from
// common/network_limits.h, which the agent uses too, so both sides draw the
// same lines. The agent re-validates and decides whether the host can
// provide the engine.
//
// Internal to controller/spec. Pure functions, thread-safe.
#ifndef FAULTLINE_CONTROLLER_SPEC_NETWORK_PARAMS_H_
#define FAULTLINE_CONTROLLER_SPEC_NETWORK_PARAMS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/yaml/fields.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::controller {

// The network kinds in catalogue order: network.delay, network.loss,
// network.duplicate, network.corrupt, network.bandwidth, network.partition.
const std::vector<std::string>& NetworkFaultKinds();

bool IsNetworkFaultKind(absl::string_view kind);

// Reads the params of network kind `kind` (one of NetworkFaultKinds()) from
// `fields` (the params mapping, context "<kind> params") into the matching
// case of `spec`, and appends "key=value" parts to `summary`. Every problem
// is appended to `diagnostics` at its file:line:col; `spec` is meaningful
// only if none was added. Does not call fields.Finish() (the caller reports
// unknown keys).
void ReadNetworkParams(absl::string_view kind, Fields& fields, Diagnostics* diagnostics,
                       v1::FaultSpec* spec, std::string* summary);

// Bits per second for "<number><unit>": bit (or a bare number), kbit, mbit,
// gbit, tbit (powers of 1000), kibit, mibit, gibit, tibit (powers of 1024).
// Units are case-insensitive; the number may have a fraction ("1.5mbit").
// nullopt on anything else, a negative number, or more than 2^64-1 bits/s.
// "bps", "kbps", "mbps"... are refused on purpose: everyday use reads them
// as bits, tc as BYTES per second, and an 8x mistake in a shaping fault is
// not one to guess about (the spec reader says so, see IsAmbiguousRateUnit).
std::optional<uint64_t> ParseBitRate(absl::string_view text);

// True for a rate written with a "bps" unit (e.g. "10mbps"), which
// ParseBitRate refuses as ambiguous between bits and bytes.
bool IsAmbiguousRateUnit(absl::string_view text);

// The shortest exact form: 10mbit, 1500kbit, 8000bit, 1gbit.
std::string FormatBitRate(uint64_t bits_per_second);

// The shortest exact form of a microsecond duration: 0s, 250us, 1.5ms, 100ms,
// 2s, 90s.
std::string FormatMicroseconds(uint64_t us);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SPEC_NETWORK_PARAMS_H_
