// Version reported by both binaries (`--version`) and by Capabilities.
#ifndef FAULTLINE_COMMON_VERSION_H_
#define FAULTLINE_COMMON_VERSION_H_

namespace faultline {
inline constexpr const char kVersion[] = "0.1.0";
}  // namespace faultline

#endif  // FAULTLINE_COMMON_VERSION_H_
