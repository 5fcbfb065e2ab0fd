// The agent's config file (`faultline-agent --config /etc/faultline/agent.yaml`):
// YAML text -> AgentConfigFile, a plain value that agent/main.cc merges with
// the flags (a flag given on the command line wins) into AgentConfig. Every
// problem is reported at once as file:line:col through common/yaml; the
// `authorization` and `policy` sections are read by their owners
// (ReadAuthorization, ReadPolicy).
//
//   listen: 0.0.0.0:7431            # optional; also state_dir, max_faults,
//   state_dir: /var/lib/faultline-agent   #   lease_ttl, memory_reserve_pct
//   tls: {ca: tls/ca.pem, cert: tls/agent.pem, key: tls/agent.key}
//   audit_log: /var/log/faultline/agent-audit.jsonl   # default <state_dir>/audit.jsonl
//   authorization: [...]            # agent/access/authorization.h
//   policy: {...}                   # agent/policy/policy.h
//
// Relative paths are relative to the directory of the config file. Pure
// apart from LoadAgentConfigFile's read.
#ifndef FAULTLINE_AGENT_CONFIG_AGENT_CONFIG_FILE_H_
#define FAULTLINE_AGENT_CONFIG_AGENT_CONFIG_FILE_H_

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/access/authorization.h"
#include "agent/policy/policy.h"
#include "common/tls.h"
#include "common/yaml/diagnostic.h"

namespace faultline::agent {

// What the file sets; unset optionals / empty strings leave the flag's value.
struct AgentConfigFile {
  std::string path{};
  std::optional<std::string> listen{};
  std::optional<std::string> state_dir{};
  std::optional<size_t> max_faults{};
  std::optional<std::chrono::milliseconds> lease_ttl{};
  std::optional<double> memory_reserve_pct{};
  TlsFiles tls{};  // all three or none (empty())
  std::string audit_log{};
  std::optional<Authorization> authorization{};  // nullopt: no `authorization` key
  std::optional<Policy> policy{};                // nullopt: no `policy` key
};

// Parses `yaml_text`; `file_name` is used in locations and to resolve
// relative paths. InvalidArgument naming the first problem (and how many
// more) when anything is wrong; every problem is appended to `diagnostics`
// (may be null), sorted by position.
absl::StatusOr<AgentConfigFile> ParseAgentConfigFile(const std::string& yaml_text,
                                                     const std::string& file_name,
                                                     std::vector<Diagnostic>* diagnostics);

// Reads `path` (at most 1 MiB) and parses it. NotFound / PermissionDenied
// when it cannot be read; InvalidArgument as ParseAgentConfigFile or when
// it is too large or a directory.
absl::StatusOr<AgentConfigFile> LoadAgentConfigFile(const std::string& path,
                                                    std::vector<Diagnostic>* diagnostics);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_CONFIG_AGENT_CONFIG_FILE_H_
