// What an agent's gRPC service needs to decide who is calling, whether the
// call is allowed and where to record it: the TLS server state (whose
// VerifyPeer names the caller), the authorization rules and the audit log.
// The daemon (agent/server/agent_daemon.cc) builds one from the config file
// and flags and hands it to AgentServiceImpl.
#ifndef FAULTLINE_AGENT_ACCESS_ACCESS_H_
#define FAULTLINE_AGENT_ACCESS_ACCESS_H_

#include <memory>

#include "agent/access/audit_log.h"
#include "agent/access/authorization.h"
#include "common/tls.h"

namespace faultline::agent {

struct AccessOptions {
  // The listener's TLS state; null = plaintext, every caller is AnonymousPeer.
  std::shared_ptr<const ServerTls> tls{};
  // Default: no rules, every (verified or anonymous) caller may do everything.
  Authorization authorization{};
  // null = no audit trail.
  std::shared_ptr<AuditLog> audit{};
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_ACCESS_ACCESS_H_
