// Host-wide figures that faults check in Prepare(): which CPUs are online
// (cpu.pressure pins to them) and how much memory is there and available
// (memory.pressure keeps a reserve). Read from /sys and /proc by
// host/linux/sysinfo.cc; every call reads afresh. Thread-safe.
#ifndef FAULTLINE_AGENT_HOST_SYSINFO_H_
#define FAULTLINE_AGENT_HOST_SYSINFO_H_

#include <cstdint>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace faultline::agent {

struct OnlineCpus {
  std::set<int> cpus;
  std::string text;  // as the kernel prints it, e.g. "0-1"
};

// /sys/devices/system/cpu/online. Internal if unreadable or unparsable.
absl::StatusOr<OnlineCpus> ReadOnlineCpus();

// Parses a kernel CPU list such as "0-3,8,10-11". InvalidArgument on garbage.
absl::StatusOr<std::set<int>> ParseCpuList(absl::string_view text);

struct MemInfo {
  uint64_t total_bytes = 0;      // MemTotal
  uint64_t available_bytes = 0;  // MemAvailable
};

// /proc/meminfo. Internal if unreadable or a field is missing.
absl::StatusOr<MemInfo> ReadMemInfo();

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_HOST_SYSINFO_H_
