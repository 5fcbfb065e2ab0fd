#include "common/yaml/yaml_tree.h"

#include <exception>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace faultline {
namespace {

class Converter {
 public:
  explicit Converter(const std::string& file) : file_(file) {}

  // Copies `in` into `out`. False (with error_ set) when a limit is hit.
  bool Convert(const YAML::Node& in, const SourceLocation& fallback, int depth, YamlNode* out) {
    out->where = Location(in.Mark(), fallback);
    if (depth > kMaxYamlDepth) {
      // Also catches anchors that refer to themselves, which yaml-cpp turns
      // into a cyclic graph.
      error_ = Diagnostic{out->where, absl::StrCat("yaml nesting is deeper than ", kMaxYamlDepth,
                                                   " levels (is an anchor used inside itself?)")};
      return false;
    }
    if (++nodes_ > kMaxYamlNodes) {
      error_ = Diagnostic{out->where, absl::StrCat("yaml document has more than ", kMaxYamlNodes,
                                                   " nodes (are aliases expanding too much?)")};
      return false;
    }
    switch (in.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out->type = YamlNode::Type::kNull;
        return true;
      case YAML::NodeType::Scalar:
        out->type = YamlNode::Type::kScalar;
        out->scalar = in.Scalar();
        // yaml-cpp tags plain scalars "?" and quoted/block ones "!".
        out->quoted = in.Tag() != "?";
        return true;
      case YAML::NodeType::Sequence:
        out->type = YamlNode::Type::kSequence;
        for (const YAML::Node& item : in) {
          YamlNode& converted = out->items.emplace_back();
          if (!Convert(item, out->where, depth + 1, &converted)) return false;
        }
        return true;
      case YAML::NodeType::Map:
        out->type = YamlNode::Type::kMapping;
        for (auto it = in.begin(); it != in.end(); ++it) {
          auto& [key, value] = out->entries.emplace_back();
          if (!Convert(it->first, out->where, depth + 1, &key)) return false;
          if (!Convert(it->second, key.where, depth + 1, &value)) return false;
          // An empty value is marked at the following token, often on the
          // next line; the key is where the user looks.
          if (value.IsNull()) value.where = key.where;
        }
        return true;
    }
    return true;
  }

  SourceLocation Location(const YAML::Mark& mark, const SourceLocation& fallback) const {
    if (mark.is_null() || mark.line < 0 || mark.column < 0) return fallback;
    return SourceLocation{file_, mark.line + 1, mark.column + 1};
  }

  const Diagnostic& error() const { return error_; }

 private:
  const std::string& file_;
  int nodes_ = 0;
  Diagnostic error_;
};

std::string LowerFirst(std::string s) {
  if (!s.empty()) s[0] = absl::ascii_tolower(static_cast<unsigned char>(s[0]));
  return s;
}

}  // namespace

std::optional<YamlNode> ParseYaml(const std::string& text, const std::string& file_name,
                                  std::vector<Diagnostic>* diagnostics,
                                  absl::string_view what) {
  const SourceLocation start{file_name, 1, 1};
  Converter converter(file_name);
  // The exception edge: everything yaml-cpp throws stops here.
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(text);
    if (documents.size() > 1) {
      diagnostics->push_back({converter.Location(documents[1].Mark(), start),
                              absl::StrCat("expected one yaml document, got ", documents.size(),
                                           " (remove the \"---\" separators)")});
      return std::nullopt;
    }
    YamlNode root;
    if (!documents.empty() && !converter.Convert(documents[0], start, 0, &root)) {
      diagnostics->push_back(converter.error());
      return std::nullopt;
    }
    if (root.IsNull()) {
      diagnostics->push_back({start, absl::StrCat(what, " file is empty")});
      return std::nullopt;
    }
    return root;
  } catch (const YAML::Exception& e) {
    diagnostics->push_back({converter.Location(e.mark, start),
                            absl::StrCat("yaml syntax error: ", LowerFirst(e.msg))});
  } catch (const std::exception& e) {
    diagnostics->push_back({start, absl::StrCat("cannot read yaml: ", LowerFirst(e.what()))});
  }
  return std::nullopt;
}

}  // namespace faultline
