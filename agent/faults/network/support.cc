// Placeholder until the libnl engine lands: reports nothing available.
#include "agent/faults/network/support.h"

namespace faultline::agent {

NetworkSupport DetectNetworkSupport() {
  NetworkSupport support;
  support.detected = true;
  support.missing = "network engines not built yet";
  return support;
}

}  // namespace faultline::agent
