#include "common/yaml/yaml_tree.h"

#include <exception>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/anchor.h"
#include "yaml-cpp/eventhandler.h"
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

// First pass over the text: counts the documents and remembers where the
// second one starts, without building nodes. It exists because
// YAML::LoadAll never returns on some inputs (yaml-cpp 0.7): a document that
// starts with a token no node can start with (a "," outside [] or {}) is
// read as an empty document WITHOUT consuming the token, so the next
// document starts at the same token, forever, allocating a node each time.
// ("," alone, or ", [x]", hung ParseExperiment; found by the fuzzer.) Here
// such a non-advancing document is detected (its first event is at the
// same offset as the previous document's) and reported as a syntax error.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override { first_event_ = true; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Event(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Event(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Event(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Event(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Event(mark);
  }
  void OnMapEnd() override {}

  // Parses every document of `text`. False when a document did not advance
  // (stuck() is where).
  bool Count(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(*this)) {
      if (stuck_) return false;
    }
    return true;
  }

  int documents() const { return documents_; }
  const YAML::Mark& second() const { return second_; }
  const YAML::Mark& stuck_at() const { return previous_; }

 private:
  void Event(const YAML::Mark& mark) {
    if (!first_event_) return;
    first_event_ = false;
    if (documents_ > 0 && mark.pos == previous_.pos) {
      stuck_ = true;
      return;
    }
    if (++documents_ == 2) second_ = mark;
    previous_ = mark;
  }

  bool first_event_ = false;
  bool stuck_ = false;
  int documents_ = 0;
  YAML::Mark second_ = YAML::Mark::null_mark();
  YAML::Mark previous_ = YAML::Mark::null_mark();
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
  if (text.size() > kMaxYamlBytes) {
    if (diagnostics != nullptr) {
      diagnostics->push_back(Diagnostic{{file_name, 0, 0},
                                        absl::StrCat(what, " is ", text.size(),
                                                     " bytes, larger than 1 MiB")});
    }
    return std::nullopt;
  }
  Converter converter(file_name);
  // The exception edge: everything yaml-cpp throws stops here.
  try {
    // Not YAML::LoadAll: see DocumentCounter.
    DocumentCounter counter;
    if (!counter.Count(text)) {
      diagnostics->push_back({converter.Location(counter.stuck_at(), start),
                              "yaml syntax error: unexpected \",\" outside a [...] or {...} "
                              "collection"});
      return std::nullopt;
    }
    if (counter.documents() > 1) {
      diagnostics->push_back({converter.Location(counter.second(), start),
                              absl::StrCat("expected one yaml document, got ",
                                           counter.documents(),
                                           " (remove the \"---\" separators)")});
      return std::nullopt;
    }
    YamlNode root;
    if (counter.documents() == 1 && !converter.Convert(YAML::Load(text), start, 0, &root)) {
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
