// Probes: checks of the system under test that decide whether the steady
// state holds (http status, tcp connect, exec exit code). The run engine calls
// RunProbe before and after the method and records every result.
//
// A probe never throws and never fails as a function: an unreachable service
// is a failed probe result, not an error. Thread-safe (no shared state; call
// InitProbes() once from main before threads start).
#ifndef FAULTLINE_CONTROLLER_PROBES_PROBE_H_
#define FAULTLINE_CONTROLLER_PROBES_PROBE_H_

#include <chrono>
#include <string>

#include "controller/spec/experiment.h"

namespace faultline::controller {

struct ProbeResult {
  bool ok = false;
  std::chrono::microseconds latency{0};
  std::string detail;  // what was seen, e.g. "status 200", "connected", "exit 0"
  std::string error;   // why it failed, empty when ok
};

// One-time process setup (libcurl global init). Idempotent.
void InitProbes();

// Runs `probe` once, bounded by probe.timeout.
ProbeResult RunProbe(const Probe& probe);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_PROBES_PROBE_H_
