#include "agent/config/agent_config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "common/yaml/fields.h"
#include "common/yaml/yaml_tree.h"

namespace faultline::agent {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

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

absl::StatusOr<std::string> ReadConfigText(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("open agent config ", path));
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("agent config ", path, " is a directory"));
  }
  std::string text;
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, absl::StrCat("read agent config ", path));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxConfigBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent config ", path, " is larger than 1 MiB"));
    }
  }
  return text;
}

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
  std::stable_sort(found.begin(), found.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
  });
  std::string message = found.front().ToString();
  if (found.size() > 1) {
    absl::StrAppend(&message, " (and ", found.size() - 1, " more problem",
                    found.size() > 2 ? "s" : "", ")");
  }
  if (diagnostics != nullptr) diagnostics->insert(diagnostics->end(), found.begin(), found.end());
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<AgentConfigFile> LoadAgentConfigFile(const std::string& path,
                                                    std::vector<Diagnostic>* diagnostics) {
  FL_ASSIGN_OR_RETURN(std::string text, ReadConfigText(path));
  return ParseAgentConfigFile(text, path, diagnostics);
}

}  // namespace faultline::agent
