#include "agent/host/sysinfo.h"

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/host/linux/read_file.h"
#include "common/status.h"

namespace faultline::agent {
absl::StatusOr<std::set<int>> ParseCpuList(absl::string_view text) {
  std::set<int> cpus;
  text = absl::StripAsciiWhitespace(text);
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> range = absl::StrSplit(part, absl::MaxSplits('-', 1));
    int first = -1, last = -1;
    if (!absl::SimpleAtoi(range[0], &first) ||
        (range.size() == 2 && !absl::SimpleAtoi(range[1], &last))) {
      return absl::InvalidArgumentError(absl::StrCat("bad cpu list '", text, "'"));
    }
    if (range.size() == 1) last = first;
    if (first < 0 || last < first || last - first > 65536) {
      return absl::InvalidArgumentError(absl::StrCat("bad cpu list '", text, "'"));
    }
    for (int cpu = first; cpu <= last; ++cpu) cpus.insert(cpu);
  }
  return cpus;
}

absl::StatusOr<OnlineCpus> ReadOnlineCpus() {
  constexpr char kPath[] = "/sys/devices/system/cpu/online";
  auto text = ReadFile(kPath);
  if (!text.ok()) return absl::InternalError(text.status().message());
  OnlineCpus out;
  out.text = std::string(absl::StripAsciiWhitespace(*text));
  auto cpus = ParseCpuList(out.text);
  if (!cpus.ok() || cpus->empty()) {
    return absl::InternalError(absl::StrCat("parse ", kPath, ": '", out.text, "'"));
  }
  out.cpus = std::move(*cpus);
  return out;
}

absl::StatusOr<MemInfo> ReadMemInfo() {
  auto text = ReadFile("/proc/meminfo");
  if (!text.ok()) return absl::InternalError(text.status().message());
  MemInfo info;
  bool total = false, available = false;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    uint64_t* field = nullptr;
    if (absl::ConsumePrefix(&line, "MemTotal:")) {
      field = &info.total_bytes;
      total = true;
    } else if (absl::ConsumePrefix(&line, "MemAvailable:")) {
      field = &info.available_bytes;
      available = true;
    } else {
      continue;
    }
    line = absl::StripAsciiWhitespace(line);
    // Values are in kB (the kernel means KiB).
    uint64_t kib = 0;
    if (!absl::ConsumeSuffix(&line, " kB") || !absl::SimpleAtoi(line, &kib)) {
      return absl::InternalError("parse /proc/meminfo");
    }
    *field = kib * 1024;
  }
  if (!total || !available) {
    return absl::InternalError("parse /proc/meminfo: MemTotal or MemAvailable missing");
  }
  return info;
}

}  // namespace faultline::agent
