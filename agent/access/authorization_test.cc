// Authorization rules: reading the config section (errors with positions and
// suggestions), identity matching and the decision with its message.
#include "agent/access/authorization.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Parses `text` (a document whose only key is `authorization`) and reads the
// section; `errors` receives "line:col: message" for every diagnostic.
std::optional<Authorization> Read(const std::string& text, std::vector<std::string>* errors) {
  std::vector<Diagnostic> parse_errors;
  std::optional<YamlNode> root = ParseYaml(text, "agent.yaml", &parse_errors, "agent config");
  EXPECT_TRUE(root.has_value() && root->IsMapping()) << text;
  if (!root.has_value() || root->entries.empty()) return std::nullopt;
  Diagnostics diagnostics;
  std::optional<Authorization> result = ReadAuthorization(root->entries[0].second, &diagnostics);
  for (const Diagnostic& d : diagnostics.list()) errors->push_back(d.ToString());
  EXPECT_EQ(result.has_value(), diagnostics.size() == 0) << absl::StrJoin(*errors, "\n");
  return result;
}

PeerIdentity Peer(const std::string& cn, std::vector<std::string> sans = {}) {
  PeerIdentity peer;
  peer.authenticated = true;
  peer.common_name = cn;
  peer.subject = "CN=" + cn + ",O=faultline";
  peer.sans = std::move(sans);
  peer.address = "127.0.0.1";
  return peer;
}

constexpr char kConfig[] = R"(authorization:
  - name: controllers
    identities: ["CN=faultline-controller", "URI:spiffe://example/ctl", "DNS:ctl.example"]
    allow: [apply, revert, renew, halt, list, capabilities]
    kinds: ["network.*", cpu.pressure]
  - name: dashboards
    identities: ["CN=faultline-dashboard"]
    allow: [read]
  - name: local
    identities: [anonymous]
    allow: [all]
)";

TEST(AuthorizationTest, ReadsRulesAndExpandsActionGroups) {
  std::vector<std::string> errors;
  std::optional<Authorization> auth = Read(kConfig, &errors);
  ASSERT_TRUE(auth.has_value());
  ASSERT_EQ(auth->rules().size(), 3u);
  EXPECT_TRUE(auth->configured());
  const AuthorizationRule& controllers = auth->rules()[0];
  EXPECT_EQ(controllers.name, "controllers");
  EXPECT_THAT(controllers.identities,
              ElementsAre("CN=faultline-controller", "URI:spiffe://example/ctl", "DNS:ctl.example"));
  EXPECT_EQ(controllers.allow.size(), 6u);
  EXPECT_THAT(controllers.kinds, ElementsAre("network.*", "cpu.pressure"));
  EXPECT_THAT(auth->rules()[1].allow, ElementsAre(Action::kList, Action::kCapabilities));
  EXPECT_TRUE(auth->rules()[1].kinds.empty());
  EXPECT_EQ(auth->rules()[2].allow.size(), 6u);
}

TEST(AuthorizationTest, DecidesByIdentityActionAndKind) {
  std::vector<std::string> errors;
  std::optional<Authorization> auth = Read(kConfig, &errors);
  ASSERT_TRUE(auth.has_value());
  const PeerIdentity controller = Peer("faultline-controller");
  EXPECT_TRUE(auth->Decide(controller, Action::kApply, "network.delay").ok());
  EXPECT_TRUE(auth->Decide(controller, Action::kApply, "cpu.pressure").ok());
  EXPECT_TRUE(auth->Decide(controller, Action::kHalt, "").ok());
  absl::Status denied = auth->Decide(controller, Action::kApply, "process.kill");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "no authorization rule lets CN=faultline-controller,O=faultline apply process.kill "
            "(rules: controllers, dashboards, local)");

  const PeerIdentity dashboard = Peer("faultline-dashboard");
  EXPECT_TRUE(auth->Decide(dashboard, Action::kList, "").ok());
  EXPECT_TRUE(auth->Decide(dashboard, Action::kCapabilities, "").ok());
  denied = auth->Decide(dashboard, Action::kHalt, "");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "no authorization rule lets CN=faultline-dashboard,O=faultline halt "
            "(rules: controllers, dashboards, local)");
  EXPECT_EQ(auth->Decide(dashboard, Action::kApply, "network.delay").code(),
            absl::StatusCode::kPermissionDenied);

  // A certificate nobody named gets nothing, not even reads; a plaintext
  // caller is "anonymous" and gets what the local rule grants.
  EXPECT_EQ(auth->Decide(Peer("someone-else"), Action::kList, "").code(),
            absl::StatusCode::kPermissionDenied);
  PeerIdentity anonymous;
  EXPECT_TRUE(auth->Decide(anonymous, Action::kApply, "process.kill").ok());
}

TEST(AuthorizationTest, NoRulesAllowsEveryone) {
  Authorization open;
  EXPECT_FALSE(open.configured());
  EXPECT_TRUE(open.Decide(PeerIdentity(), Action::kHalt, "").ok());
  EXPECT_TRUE(open.Decide(Peer("x"), Action::kApply, "process.kill").ok());
}

TEST(AuthorizationTest, AnonymousIsDeniedWithoutARuleForIt) {
  Authorization auth({AuthorizationRule{.name = "ctl",
                                        .identities = {"CN=faultline-controller"},
                                        .allow = {Action::kList},
                                        .kinds = {}}});
  absl::Status denied = auth.Decide(PeerIdentity(), Action::kList, "");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(), "no authorization rule lets anonymous list (rules: ctl)");
}

TEST(IdentityMatchesTest, SubjectCommonNameAndSans) {
  const PeerIdentity peer =
      Peer("ctl", {"DNS:ctl.example", "URI:spiffe://example/ctl", "IP:198.18.0.1",
                   "email:ops@example.org"});
  EXPECT_TRUE(IdentityMatches("CN=ctl", peer));
  EXPECT_TRUE(IdentityMatches("CN=ctl,O=faultline", peer));
  EXPECT_TRUE(IdentityMatches("CN = ctl, O = faultline", peer));
  EXPECT_TRUE(IdentityMatches("DNS:ctl.example", peer));
  EXPECT_TRUE(IdentityMatches("DNS:CTL.Example", peer));
  EXPECT_TRUE(IdentityMatches("URI:spiffe://example/ctl", peer));
  EXPECT_TRUE(IdentityMatches("IP:198.18.0.1", peer));
  EXPECT_TRUE(IdentityMatches("email:ops@example.org", peer));

  EXPECT_FALSE(IdentityMatches("CN=ct", peer));
  EXPECT_FALSE(IdentityMatches("CN=ctl,O=other", peer));
  EXPECT_FALSE(IdentityMatches("O=faultline", peer));
  EXPECT_FALSE(IdentityMatches("DNS:other.example", peer));
  EXPECT_FALSE(IdentityMatches("URI:spiffe://example/CTL", peer));
  EXPECT_FALSE(IdentityMatches("IP:198.18.0.2", peer));
  EXPECT_FALSE(IdentityMatches("anonymous", peer));

  PeerIdentity anonymous;
  EXPECT_TRUE(IdentityMatches("anonymous", anonymous));
  EXPECT_FALSE(IdentityMatches("CN=", anonymous));
  // An unauthenticated identity never matches a name, even if it carries one.
  PeerIdentity claimed = peer;
  claimed.authenticated = false;
  EXPECT_FALSE(IdentityMatches("CN=ctl", claimed));
  EXPECT_FALSE(IdentityMatches("DNS:ctl.example", claimed));
}

TEST(KindMatchesTest, Globs) {
  EXPECT_TRUE(KindMatches("network.*", "network.delay"));
  EXPECT_TRUE(KindMatches("*", "cpu.pressure"));
  EXPECT_TRUE(KindMatches("*.pressure", "memory.pressure"));
  EXPECT_TRUE(KindMatches("n*k.*l*y", "network.delay"));
  EXPECT_TRUE(KindMatches("cpu.pressure", "cpu.pressure"));
  EXPECT_FALSE(KindMatches("network.*", "networkx"));
  EXPECT_FALSE(KindMatches("cpu.pressure", "cpu.pressures"));
  EXPECT_FALSE(KindMatches("cpu", "cpu.pressure"));
  EXPECT_FALSE(KindMatches("network.*", ""));
  EXPECT_TRUE(KindMatches("*", ""));
}

TEST(ReadAuthorizationTest, ReportsEveryProblemWithItsPosition) {
  std::vector<std::string> errors;
  EXPECT_FALSE(Read(R"(authorization:
  - name: ctl
    identities: [faultline-controller, "DNS:x"]
    allow: [aply, read]
    kinds: [network.dealy, "disk.*"]
    allwo: [all]
  - name: ctl
    identities: []
    allow: all
  - identities: [anonymous]
)",
                    &errors)
                   .has_value());
  EXPECT_THAT(
      errors,
      ElementsAre(
          "agent.yaml:3:18: authorization rule \"ctl\": identity \"faultline-controller\" must be "
          "CN=<common name>, a full subject (CN=..,O=..), DNS:, URI:, IP: or email:<name>, or "
          "anonymous (did you mean \"CN=faultline-controller\"?)",
          "agent.yaml:4:13: authorization rule \"ctl\": unknown action \"aply\" (did you mean "
          "\"apply\"?); actions are apply, revert, renew, halt, list, capabilities, read, all",
          "agent.yaml:5:13: authorization rule \"ctl\": kind \"network.dealy\" matches no fault "
          "kind (did you mean \"network.delay\"?)",
          "agent.yaml:5:28: authorization rule \"ctl\": kind \"disk.*\" matches no fault kind",
          "agent.yaml:6:5: unknown field \"allwo\" in authorization[0] (did you mean "
          "\"allow\"?)",
          "agent.yaml:7:11: duplicate authorization rule name \"ctl\"",
          "agent.yaml:8:17: authorization[1]: identities must not be empty",
          "agent.yaml:9:12: authorization[1]: allow: expected a sequence, got \"all\"",
          "agent.yaml:10:5: missing required field \"name\" in authorization[2]",
          "agent.yaml:10:5: missing required field \"allow\" in authorization[2]"));
}

TEST(ReadAuthorizationTest, AnEmptyOrWrongShapedSectionIsAnError) {
  std::vector<std::string> errors;
  EXPECT_FALSE(Read("authorization: []\n", &errors).has_value());
  EXPECT_THAT(errors, ElementsAre(HasSubstr("agent.yaml:1:16: authorization must list at least "
                                            "one rule")));
  errors.clear();
  EXPECT_FALSE(Read("authorization: {name: x}\n", &errors).has_value());
  EXPECT_THAT(errors, ElementsAre(HasSubstr("authorization: expected a sequence, got")));
  errors.clear();
  EXPECT_FALSE(Read("authorization: [ctl]\n", &errors).has_value());
  EXPECT_THAT(errors, ElementsAre(HasSubstr("authorization[0]: expected a mapping")));
}

}  // namespace
}  // namespace faultline::agent
