// Who may do what on an agent: the `authorization` section of the agent's
// config file, read once at start into an Authorization, and the decision
// every AgentService handler asks for after the caller's identity is known
// (common/tls.h: ServerTls::VerifyPeer, or AnonymousPeer on a plaintext
// listener) and before the FaultManager is called.
//
//   authorization:
//     - name: controllers                      # named in denials
//       identities: ["CN=faultline-controller", "DNS:ctl.example", "URI:spiffe://x/ctl"]
//       allow: [apply, revert, renew, halt, list, capabilities]   # or [all]; read = list+capabilities
//       kinds: ["network.*", cpu.pressure]     # limits `apply`; default: every kind
//     - name: dashboards
//       identities: ["CN=faultline-dashboard"]
//       allow: [read]
//
// An identity in a rule matches a caller when it equals the caller's full
// subject ("CN=ctl,O=faultline"), or is "CN=<its common name>", or equals one
// of its subject alternative names ("DNS:x", "URI:x", "IP:x", "email:x"), or
// is "anonymous" and the caller is a plaintext (unauthenticated) caller.
// Rules only grant: a call is allowed when some rule matches the caller,
// allows the action and, for apply, lists a glob matching the fault's kind.
// An Authorization without rules (no `authorization` section) allows every
// caller everything.
//
// Plain values; Decide is pure and thread-safe.
#ifndef FAULTLINE_AGENT_ACCESS_AUTHORIZATION_H_
#define FAULTLINE_AGENT_ACCESS_AUTHORIZATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/tls.h"
#include "common/yaml/fields.h"
#include "common/yaml/yaml_tree.h"

namespace faultline::agent {

// One per AgentService RPC that authorization distinguishes.
enum class Action : uint8_t {
  kApply,         // Apply, dry runs included
  kRevert,        // Revert
  kRenew,         // RenewLease
  kHalt,          // Halt
  kList,          // List
  kCapabilities,  // Capabilities
};

// "apply", "revert", "renew", "halt", "list", "capabilities".
absl::string_view ActionName(Action action);

struct AuthorizationRule {
  std::string name{};
  // "CN=x", a full subject, "DNS:x", "URI:x", "IP:x", "email:x" or "anonymous".
  std::vector<std::string> identities{};
  std::vector<Action> allow{};
  // Globs ('*' matches any run of characters) over fault kinds that `apply`
  // is limited to; empty = every kind.
  std::vector<std::string> kinds{};
};

// True if `pattern` (a rule's identity string) names `peer`, as described
// at the top of this file. Pure.
bool IdentityMatches(absl::string_view pattern, const PeerIdentity& peer);

// True if the glob `pattern` ('*' = any run of characters, everything else
// literal) matches all of `kind`. Pure.
bool KindMatches(absl::string_view pattern, absl::string_view kind);

class Authorization {
 public:
  // No rules: every caller may do everything.
  Authorization() = default;
  explicit Authorization(std::vector<AuthorizationRule> rules) : rules_(std::move(rules)) {}

  // False when there are no rules (everyone allowed).
  bool configured() const { return !rules_.empty(); }
  const std::vector<AuthorizationRule>& rules() const { return rules_; }

  // OK if `peer` may perform `action` (`kind` is the fault kind of an apply,
  // ignored for other actions). Otherwise PermissionDenied naming the caller,
  // the action and every rule, e.g. "no authorization rule lets
  // CN=faultline-dashboard apply network.delay (rules: controllers,
  // dashboards)". Pure.
  absl::Status Decide(const PeerIdentity& peer, Action action, absl::string_view kind) const;

 private:
  std::vector<AuthorizationRule> rules_;
};

// Reads the value of the config file's `authorization` key: a non-empty
// sequence of rules, each a mapping with `name` (unique), `identities`
// (non-empty; each of the forms above), `allow` (non-empty; apply, revert,
// renew, halt, list, capabilities, read = list + capabilities, all) and
// optionally `kinds` (globs, each matching at least one kind this build
// knows). On any problem appends diagnostics at the offending node
// (unknown actions, kinds and fields with "did you mean" suggestions) and
// returns nullopt. Pure.
std::optional<Authorization> ReadAuthorization(const YamlNode& node, Diagnostics* diagnostics);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_ACCESS_AUTHORIZATION_H_
