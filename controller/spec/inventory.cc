// The inventory file: every agent a controller may talk to, by name.
//
//   agents:
//     - {name: web-1, address: "127.0.0.1:7431", labels: {role: web, zone: a}}
//   max_targets: 20      # optional, >= 1
//   tls: {ca: tls/ca.pem, cert: tls/controller.pem, key: tls/controller.key}
//
// Agent names are 1..253 lowercase letters, digits, '-', '_' and '.',
// starting with a letter or digit and not ending with '.', so host names
// ("web-1.dc1") can be used as they are; "embedded" is reserved for the
// embedded local agent. Names and addresses are unique. Addresses follow the
// rules of explicit target agents (host:port, [v6]:port, unix:/path); labels
// those of a target's select. `tls` (mutual TLS to every TCP agent) needs
// ca, cert and key together (relative paths are taken from the inventory
// file's directory) and may name a server_name checked against every agent's
// certificate; an agent's own `server_name` wins over it. `tls: {}` means
// plaintext.
#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "controller/spec/experiment.h"
#include "common/yaml/fields.h"
#include "controller/spec/rules.h"
#include "common/yaml/yaml_tree.h"

namespace faultline::controller {
namespace {

constexpr size_t kMaxAgentNameLength = 253;
// plan.h kEmbeddedAgent: the plan's name for the embedded local agent.
constexpr char kReservedName[] = "embedded";

bool IsAgentName(absl::string_view s) {
  if (s.empty() || s.size() > kMaxAgentNameLength) return false;
  if (!absl::ascii_islower(s[0]) && !absl::ascii_isdigit(s[0])) return false;
  if (s.back() == '.') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_' || c == '.';
  });
}

class InventoryReader {
 public:
  explicit InventoryReader(Inventory* out) : out_(out) {}

  Diagnostics& diagnostics() { return diagnostics_; }

  void Read(const YamlNode& root) {
    if (!root.IsMapping()) {
      diagnostics_.Add(root.where, absl::StrCat("expected a mapping at the top level of the "
                                                "inventory, got ",
                                                Describe(root)));
      return;
    }
    Fields f(root, "inventory", &diagnostics_);
    if (const YamlNode* agents = f.Require("agents")) ReadAgents(*agents);
    if (const YamlNode* v = f.Get("max_targets")) {
      if (auto n =
              ReadInt(*v, "max_targets", 1, INT32_MAX, "an integer of at least 1", &diagnostics_)) {
        out_->max_targets = static_cast<int>(*n);
      }
    }
    if (const YamlNode* tls = f.Get("tls")) ReadTls(*tls);
    f.Finish();
  }

 private:
  // A path from the inventory, relative ones taken from its directory.
  std::string Resolve(const std::string& path) const {
    if (path.empty() || path.front() == '/') return path;
    const std::string::size_type slash = out_->path.rfind('/');
    if (slash == std::string::npos) return path;
    return absl::StrCat(out_->path.substr(0, slash + 1), path);
  }

  void ReadTls(const YamlNode& node) {
    if (!ExpectMapping(node, "tls", &diagnostics_) || node.entries.empty()) return;
    InventoryTls tls;
    tls.where = node.where;
    Fields f(node, "tls", &diagnostics_);
    int files = 0;
    for (auto [key, out] : {std::pair<const char*, std::string*>{"ca", &tls.ca},
                            {"cert", &tls.cert},
                            {"key", &tls.key}}) {
      const YamlNode* v = f.Get(key);
      if (v == nullptr) continue;
      if (auto path = ReadString(*v, absl::StrCat("tls.", key), &diagnostics_)) {
        if (path->empty()) {
          diagnostics_.Add(v->where, absl::StrCat("tls.", key, " must be a file path, got \"\""));
        } else {
          *out = Resolve(*path);
        }
      }
      ++files;
    }
    if (const YamlNode* v = f.Get("server_name")) {
      if (auto name = ReadString(*v, "tls.server_name", &diagnostics_)) tls.server_name = *name;
    }
    f.Finish();
    if (files != 0 && files != 3) {
      std::vector<std::string> missing;
      if (f.Get("ca") == nullptr) missing.push_back("ca");
      if (f.Get("cert") == nullptr) missing.push_back("cert");
      if (f.Get("key") == nullptr) missing.push_back("key");
      diagnostics_.Add(node.where,
                       absl::StrCat("tls needs ca, cert and key together; missing ",
                                    absl::StrJoin(missing, ", ")));
    } else if (files == 0) {
      diagnostics_.Add(node.where,
                       "tls needs ca, cert and key (server_name alone cannot secure anything); "
                       "leave tls: {} for plaintext");
    }
    out_->tls = std::move(tls);
  }

  void ReadAgents(const YamlNode& node) {
    if (!ExpectSequence(node, "agents", &diagnostics_)) return;
    if (node.items.empty()) {
      diagnostics_.Add(node.where, "agents must list at least one agent");
      return;
    }
    for (size_t i = 0; i < node.items.size(); ++i) ReadAgent(node.items[i], i);
  }

  void ReadAgent(const YamlNode& node, size_t index) {
    const std::string position = absl::StrCat("agents[", index, "]");
    if (!ExpectMapping(node, position, &diagnostics_)) return;
    const size_t before = diagnostics_.size();
    std::string context = position;
    InventoryAgent agent;
    agent.where = node.where;
    Fields f(node, position, &diagnostics_);
    if (const YamlNode* name = f.Require("name")) {
      std::optional<std::string> v =
          ReadString(*name, absl::StrCat(position, ".name"), &diagnostics_);
      if (v && !IsAgentName(*v)) {
        diagnostics_.Add(name->where,
                         absl::StrCat(position, ".name must be 1..", kMaxAgentNameLength,
                                      " lowercase letters, digits, '-', '_' and '.', starting "
                                      "with a letter or digit and not ending with '.', got ",
                                      Describe(*name)));
      } else if (v && *v == kReservedName) {
        diagnostics_.Add(name->where, absl::StrCat(position, ".name \"", kReservedName,
                                                   "\" is reserved for the embedded local agent"));
      } else if (v) {
        agent.name = *v;
        context = absl::StrCat("agent \"", *v, "\"");
        if (auto [it, inserted] = names_.emplace(*v, name->where); !inserted) {
          diagnostics_.Add(name->where, absl::StrCat("duplicate agent name \"", *v, "\" (first at ",
                                                     LineColumn(it->second), ")"));
        }
      }
    }
    if (const YamlNode* address = f.Require("address")) {
      const std::string field = absl::StrCat(context, ": address");
      if (auto v = ReadString(*address, field, &diagnostics_)) {
        if (!IsAgentAddress(*v)) {
          diagnostics_.Add(address->where,
                           absl::StrCat(field,
                                        " must be host:port with port 1..65535 or unix:/path, "
                                        "got ",
                                        Describe(*address)));
        } else if (auto [it, inserted] = addresses_.emplace(*v, address->where); !inserted) {
          diagnostics_.Add(address->where, absl::StrCat(field, " ", Describe(*address),
                                                        " is already used by another agent (at ",
                                                        LineColumn(it->second), ")"));
        } else {
          agent.address = *v;
        }
      }
    }
    if (const YamlNode* labels = f.Get("labels")) {
      if (auto v = ReadLabels(*labels, absl::StrCat(context, ": labels"), &diagnostics_)) {
        agent.labels = *v;
      }
    }
    if (const YamlNode* server_name = f.Get("server_name")) {
      if (auto v =
              ReadString(*server_name, absl::StrCat(context, ": server_name"), &diagnostics_)) {
        agent.server_name = *v;
      }
    }
    f.Finish();
    if (diagnostics_.size() == before) out_->agents.push_back(std::move(agent));
  }

  Inventory* out_;
  Diagnostics diagnostics_;
  std::map<std::string, SourceLocation> names_;
  std::map<std::string, SourceLocation> addresses_;
};

}  // namespace

absl::StatusOr<Inventory> ParseInventory(const std::string& yaml_text, const std::string& file_name,
                                         std::vector<Diagnostic>* diagnostics) {
  Inventory inventory;
  inventory.path = file_name;
  InventoryReader reader(&inventory);
  std::vector<Diagnostic>& found = reader.diagnostics().list();
  if (std::optional<YamlNode> root = ParseYaml(yaml_text, file_name, &found, "inventory")) {
    reader.Read(*root);
  }
  FL_RETURN_IF_ERROR(FinishDiagnostics(found, diagnostics));
  return inventory;
}

absl::StatusOr<Inventory> LoadInventory(const std::string& path,
                                        std::vector<Diagnostic>* diagnostics) {
  FL_ASSIGN_OR_RETURN(std::string text, ReadYamlFile(path, "inventory", diagnostics));
  return ParseInventory(text, path, diagnostics);
}

}  // namespace faultline::controller
