#include "agent/faults/fault_factory.h"

#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/faults/cpu_pressure.h"
#include "agent/faults/memory_pressure.h"
#include "agent/faults/process_kill.h"
#include "agent/faults/process_pause.h"

namespace faultline::agent {

std::string KindName(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kCpuPressure: return "cpu.pressure";
    case v1::FaultSpec::kMemoryPressure: return "memory.pressure";
    case v1::FaultSpec::kProcessKill: return "process.kill";
    case v1::FaultSpec::kProcessPause: return "process.pause";
    case v1::FaultSpec::KIND_NOT_SET: break;
  }
  return "";
}

std::vector<std::string> KnownKinds() {
  return {"cpu.pressure", "memory.pressure", "process.kill", "process.pause"};
}

absl::Status ValidateSpec(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kCpuPressure: return ValidateCpuPressure(spec.cpu_pressure());
    case v1::FaultSpec::kMemoryPressure: return ValidateMemoryPressure(spec.memory_pressure());
    case v1::FaultSpec::kProcessKill: return ValidateProcessKill(spec.process_kill());
    case v1::FaultSpec::kProcessPause: return ValidateProcessPause(spec.process_pause());
    case v1::FaultSpec::KIND_NOT_SET: break;
  }
  return absl::InvalidArgumentError("fault spec names no fault kind");
}

absl::StatusOr<std::unique_ptr<Fault>> MakeFault(const v1::FaultSpec& spec,
                                                 const FaultContext& context) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kCpuPressure: return MakeCpuPressureFault(spec.cpu_pressure(), context);
    case v1::FaultSpec::kMemoryPressure:
      return MakeMemoryPressureFault(spec.memory_pressure(), context);
    case v1::FaultSpec::kProcessKill: return MakeProcessKillFault(spec.process_kill(), context);
    case v1::FaultSpec::kProcessPause: return MakeProcessPauseFault(spec.process_pause(), context);
    case v1::FaultSpec::KIND_NOT_SET: break;
  }
  return absl::InvalidArgumentError("fault spec names no fault kind");
}

namespace {

struct CgroupSupport {
  bool v1_cpu = false;
  bool v1_memory = false;
  bool v2_cpu = false;
  bool v2_memory = false;
};

// A v1 hierarchy names its controllers in the super options
// ("rw,cpu,cpuacct"); a v2 mount lists the ones it offers in
// cgroup.controllers (on some hosts only "hugetlb").
CgroupSupport DetectCgroups() {
  CgroupSupport support;
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::vector<std::string> before = absl::StrSplit(line.substr(0, dash), ' ');
    std::vector<std::string> after = absl::StrSplit(line.substr(dash + 3), ' ');
    if (before.size() < 5 || after.size() < 3) continue;
    const std::string& fstype = after[0];
    if (fstype == "cgroup") {
      for (absl::string_view option : absl::StrSplit(after[2], ',')) {
        if (option == "cpu") support.v1_cpu = true;
        if (option == "memory") support.v1_memory = true;
      }
    } else if (fstype == "cgroup2") {
      std::ifstream controllers(before[4] + "/cgroup.controllers");
      std::string controller;
      while (controllers >> controller) {
        if (controller == "cpu") support.v2_cpu = true;
        if (controller == "memory") support.v2_memory = true;
      }
    }
  }
  return support;
}

// A spec of `kind` with every field unset: ValidateSpec rejects it with
// InvalidArgument when the kind is built, Unimplemented when it is not.
v1::FaultSpec EmptySpecOf(const std::string& kind) {
  v1::FaultSpec spec;
  if (kind == "cpu.pressure") spec.mutable_cpu_pressure();
  if (kind == "memory.pressure") spec.mutable_memory_pressure();
  if (kind == "process.kill") spec.mutable_process_kill();
  if (kind == "process.pause") spec.mutable_process_pause();
  return spec;
}

}  // namespace

std::vector<v1::KindCapability> HostCapabilities(const FaultContext& context) {
  const CgroupSupport cgroups = DetectCgroups();
  const bool stressor_ok =
      !context.stressor_path.empty() && ::access(context.stressor_path.c_str(), X_OK) == 0;
  std::vector<v1::KindCapability> kinds;
  for (const std::string& kind : KnownKinds()) {
    v1::KindCapability capability;
    capability.set_kind(kind);
    capability.set_available(true);
    const bool cpu = kind == "cpu.pressure";
    const bool memory = kind == "memory.pressure";
    if (cpu || memory) {
      if (cpu ? cgroups.v2_cpu : cgroups.v2_memory) capability.add_engines("stressor+cgroup-v2");
      if (cpu ? cgroups.v1_cpu : cgroups.v1_memory) capability.add_engines("stressor+cgroup-v1");
      capability.add_engines("stressor");
      if (!stressor_ok) {
        capability.set_available(false);
        capability.set_reason(absl::StrCat("stressor binary not executable at \"",
                                           context.stressor_path, "\""));
      }
    } else {
      capability.add_engines("pidfd");
    }
    absl::Status built = ValidateSpec(EmptySpecOf(kind));
    if (built.code() == absl::StatusCode::kUnimplemented) {
      capability.set_available(false);
      capability.set_reason(absl::StrCat("not in this build: ", built.message()));
    }
    kinds.push_back(std::move(capability));
  }
  return kinds;
}

}  // namespace faultline::agent
