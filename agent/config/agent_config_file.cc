#include "agent/config/agent_config_file.h"

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/yaml/fields.h"
#include "common/yaml/yaml_tree.h"

namespace faultline::agent {
namespace {

class Reader {
 public:
  explicit Reader(AgentConfigFile* out) : out_(out) {}
  Diagnostics& diagnostics() { return diagnostics_; }

  void Read(const YamlNode& root) {
    if (root.IsNull()) return;  // an empty mapping written as nothing but comments
    if (!root.IsMapping()) {
      diagnostics_.Add(root.where, absl::StrCat("expected a mapping at the top level of the "
                                                "agent config, got ",
                                                Describe(root)));
      return;
    }
    Fields f(root, "agent config", &diagnostics_);
    if (const YamlNode* v = f.Get("listen")) {
      if (auto s = ReadString(*v, "listen", &diagnostics_)) {
        if (s->find(':') == std::string::npos) {
          diagnostics_.Add(v->where, absl::StrCat("listen must be HOST:PORT or unix:/path, got ",
                                                  Describe(*v)));
        } else {
          out_->listen = *s;
        }
      }
    }
    if (const YamlNode* v = f.Get("state_dir")) {
      if (auto s = NonEmptyPath(*v, "state_dir")) out_->state_dir = *s;
    }
    if (const YamlNode* v = f.Get("max_faults")) {
      if (auto n = ReadInt(*v, "max_faults", 1, 100000, "an integer from 1 to 100000",
                           &diagnostics_)) {
        out_->max_faults = static_cast<size_t>(*n);
      }
    }
    if (const YamlNode* v = f.Get("lease_ttl")) {
      if (auto d = ReadDuration(*v, "lease_ttl", std::chrono::seconds(1), std::chrono::hours(24),
                                "between 1s and 24h", &diagnostics_)) {
        out_->lease_ttl = *d;
      }
    }
    if (const YamlNode* v = f.Get("memory_reserve_pct")) {
      if (auto p = ReadNumber(*v, "memory_reserve_pct", 0, false, 99.9, "a percentage from 0 to 99.9",
                              &diagnostics_)) {
        out_->memory_reserve_pct = *p;
      }
    }
    if (const YamlNode* v = f.Get("tls")) ReadTls(*v);
    if (const YamlNode* v = f.Get("audit_log")) {
      if (auto s = NonEmptyPath(*v, "audit_log")) out_->audit_log = *s;
    }
    if (const YamlNode* v = f.Get("authorization")) {
      out_->authorization = ReadAuthorization(*v, &diagnostics_);
    }
    if (const YamlNode* v = f.Get("policy")) out_->policy = ReadPolicy(*v, &diagnostics_);
    f.Finish();
  }

 private:
  // A non-empty path, resolved against the config file's directory.
  std::optional<std::string> NonEmptyPath(const YamlNode& node, absl::string_view field) {
    std::optional<std::string> s = ReadString(node, field, &diagnostics_);
    if (!s) return std::nullopt;
    if (s->empty()) {
      diagnostics_.Add(node.where, absl::StrCat(field, " must be a path, got \"\""));
      return std::nullopt;
    }
    std::filesystem::path path(*s);
    if (path.is_relative()) path = std::filesystem::path(out_->path).parent_path() / path;
    return path.lexically_normal().string();
  }

  void ReadTls(const YamlNode& node) {
    if (!ExpectMapping(node, "tls", &diagnostics_)) return;
    Fields f(node, "tls", &diagnostics_);
    const YamlNode* ca = f.Require("ca");
    const YamlNode* cert = f.Require("cert");
    const YamlNode* key = f.Require("key");
    f.Finish();
    TlsFiles files;
    std::optional<std::string> ca_path, cert_path, key_path;
    if (ca) ca_path = NonEmptyPath(*ca, "tls: ca");
    if (cert) cert_path = NonEmptyPath(*cert, "tls: cert");
    if (key) key_path = NonEmptyPath(*key, "tls: key");
    if (ca_path && cert_path && key_path) {
      out_->tls.ca = *ca_path;
      out_->tls.cert = *cert_path;
      out_->tls.key = *key_path;
    }
  }

  AgentConfigFile* out_;
  Diagnostics diagnostics_;
};

}  // namespace

absl::StatusOr<AgentConfigFile> ParseAgentConfigFile(const std::string& yaml_text,
                                                     const std::string& file_name,
                                                     std::vector<Diagnostic>* diagnostics) {
  AgentConfigFile config;
  config.path = file_name;
  Reader reader(&config);
  std::vector<Diagnostic>& found = reader.diagnostics().list();
  if (std::optional<YamlNode> root = ParseYaml(yaml_text, file_name, &found, "agent config")) {
    reader.Read(*root);
  }
  if (found.empty()) return config;
  return FinishDiagnostics(found, diagnostics);
}

absl::StatusOr<AgentConfigFile> LoadAgentConfigFile(const std::string& path,
                                                    std::vector<Diagnostic>* diagnostics) {
  FL_ASSIGN_OR_RETURN(std::string text, ReadYamlFile(path, "agent config", diagnostics));
  return ParseAgentConfigFile(text, path, diagnostics);
}

}  // namespace faultline::agent
