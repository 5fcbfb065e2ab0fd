// How the network engines tell their own objects apart: a short stable tag
// derived from a fault id (it ends IFB link and nft table names, which the
// kernel limits in length) and the network namespace of the calling thread
// (in-process registries of the tc and nfqueue engines are keyed by it, since
// faults in different namespaces never conflict).
//
// Header-only, stateless, thread-safe.
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_IDENTITY_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_IDENTITY_H_

#include <sys/stat.h>

#include <cstdint>

#include "absl/strings/string_view.h"

namespace faultline::agent {

// 32-bit FNV-1a of `text`'s bytes.
inline uint32_t Fnv1a(absl::string_view text) {
  uint32_t hash = 2166136261u;
  for (char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 16777619u;
  }
  return hash;
}

// The network namespace of the calling thread: the inode of
// /proc/thread-self/ns/net; 0 when it cannot be read.
inline uint64_t CurrentNetns() {
  struct stat st {};
  if (stat("/proc/thread-self/ns/net", &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_IDENTITY_H_
