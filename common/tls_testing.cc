#include "common/tls_testing.h"

#include <sys/wait.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace faultline {

absl::Status MakeDevCerts(const std::filesystem::path& out_dir,
                          const std::vector<std::string>& extra_args) {
  std::string command = absl::StrCat("'", FAULTLINE_SOURCE_DIR, "/scripts/dev-certs'");
  for (const std::string& arg : extra_args) absl::StrAppend(&command, " '", arg, "'");
  absl::StrAppend(&command, " '", out_dir.string(), "' 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run ", command));
  std::string output;
  char buffer[512];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("dev-certs failed: ", output));
  }
  return absl::OkStatus();
}

TlsFiles DevCertFiles(const std::filesystem::path& dir, const std::string& name) {
  TlsFiles files;
  files.ca = (dir / "ca.pem").string();
  files.cert = (dir / (name + ".pem")).string();
  files.key = (dir / (name + ".key")).string();
  return files;
}

}  // namespace faultline
