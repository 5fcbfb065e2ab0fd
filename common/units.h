// Parsing and printing of the human units used in experiments and flags:
// durations ("200ms", "1m30s") and byte sizes ("512Mi", "2G", "4096").
//
// Both binaries use these so a value means the same thing in YAML, flags and
// logs. Pure functions, thread-safe.
#ifndef FAULTLINE_COMMON_UNITS_H_
#define FAULTLINE_COMMON_UNITS_H_

#include <chrono>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace faultline {

// Parses a non-negative duration: a sequence of <number><unit> with units
// ns, us, ms, s, m, h (e.g. "1h30m", "250ms", "1.5s"). A bare "0" is zero.
// InvalidArgument for anything else (negative, missing unit, garbage).
absl::StatusOr<std::chrono::milliseconds> ParseDuration(absl::string_view text);

// Prints the shortest exact form, never rounded: 0s, 250ms, 1.234s, 1m30s,
// 2m30.25s, 2h. ParseDuration reads every result back to the same number of
// milliseconds (drill-from writes recorded offsets with it).
std::string FormatDuration(std::chrono::milliseconds d);

// Parses a byte size: integer with optional suffix K/M/G/T (powers of 1000),
// Ki/Mi/Gi/Ti (powers of 1024), optionally followed by "B". InvalidArgument
// on garbage or overflow.
absl::StatusOr<uint64_t> ParseBytes(absl::string_view text);

// Prints bytes with a binary suffix, e.g. 512Mi, 1.5Gi, 123B.
std::string FormatBytes(uint64_t bytes);

}  // namespace faultline

#endif  // FAULTLINE_COMMON_UNITS_H_
