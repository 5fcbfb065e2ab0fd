// Test helper: a throwaway certificate set made by scripts/dev-certs (see
// that script for the files it writes), for tests of TLS servers and
// clients. Not for production code.
#ifndef FAULTLINE_COMMON_TLS_TESTING_H_
#define FAULTLINE_COMMON_TLS_TESTING_H_

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/tls.h"

namespace faultline {

// Runs scripts/dev-certs [extra_args...] out_dir (about 0.3 s). Internal
// with the script's output when it fails.
absl::Status MakeDevCerts(const std::filesystem::path& out_dir,
                          const std::vector<std::string>& extra_args = {});

// The files of one certificate of a dev-certs dir: ca.pem plus
// `name`.pem/`name`.key ("agent", "controller", "other-ca/controller", ...).
TlsFiles DevCertFiles(const std::filesystem::path& dir, const std::string& name);

}  // namespace faultline

#endif  // FAULTLINE_COMMON_TLS_TESTING_H_
