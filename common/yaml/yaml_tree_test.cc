// ParseYaml against hostile and malformed documents: every refusal is one
// diagnostic at a 1-based file:line:col, nothing throws, nothing recurses
// without bound, and aliases cannot expand a small file into a huge tree.
#include "common/yaml/yaml_tree.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kFile[] = "y.yaml";

// The single diagnostic ParseYaml gave for `text` as "file:line:col: message";
// fails the test when the text parsed or the diagnostic has no position.
std::string Refusal(const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  std::optional<YamlNode> root = ParseYaml(text, kFile, &diagnostics);
  EXPECT_FALSE(root.has_value());
  if (diagnostics.size() != 1) {
    ADD_FAILURE() << diagnostics.size() << " diagnostics";
    return "";
  }
  const Diagnostic& d = diagnostics[0];
  EXPECT_EQ(d.where.file, kFile);
  EXPECT_GE(d.where.line, 1);
  EXPECT_GE(d.where.column, 1);
  return d.ToString();
}

// "a:\n  a:\n    a: ..." with `depth` mappings.
std::string NestedMappings(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) absl::StrAppend(&out, std::string(2 * i, ' '), "a:\n");
  return out;
}

TEST(YamlTreeTest, TenThousandOpenBracketsAreRefusedWithoutOverflowingTheStack) {
  // yaml-cpp's own recursion guard fires before the tree converter's; either
  // way it is one positioned diagnostic, not a crash.
  EXPECT_THAT(Refusal(std::string(10000, '[')), StartsWith("y.yaml:1:"));
  EXPECT_THAT(Refusal(std::string(10000, '{')), StartsWith("y.yaml:1:"));
  EXPECT_THAT(Refusal(absl::StrCat("a: ", std::string(5000, '['), std::string(5000, ']'))),
              StartsWith("y.yaml:1:"));
}

TEST(YamlTreeTest, TextOverOneMebibyteIsRefusedWhateverItsOrigin) {
  // Files are refused by their readers first; text that arrives another way
  // (serve's SubmitRun) stops here.
  const std::string text = absl::StrCat("a: b\n#", std::string(kMaxYamlBytes, 'x'));
  std::vector<Diagnostic> diagnostics;
  EXPECT_FALSE(ParseYaml(text, kFile, &diagnostics, "experiment").has_value());
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].ToString(),
            absl::StrCat("y.yaml: experiment is ", text.size(), " bytes, larger than 1 MiB"));
  EXPECT_TRUE(ParseYaml(std::string(kMaxYamlBytes - 10, '#') + "\na: b\n", kFile, &diagnostics)
                  .has_value());
}

TEST(YamlTreeTest, NestingPastTheLimitIsRefusedWhereItHappens) {
  // Flow: 65 sequences inside the top-level one; the 66th '[' is at depth 65.
  const std::string flow = absl::StrCat(std::string(kMaxYamlDepth + 1, '['), "x",
                                        std::string(kMaxYamlDepth + 1, ']'));
  EXPECT_EQ(Refusal(flow),
            absl::StrCat("y.yaml:1:", kMaxYamlDepth + 2, ": yaml nesting is deeper than ",
                         kMaxYamlDepth, " levels (is an anchor used inside itself?)"));
  // Block mappings: one level per mapping; the 65th key (line 65, indented
  // 128) holds the mapping that is one too deep.
  EXPECT_THAT(Refusal(NestedMappings(100)),
              StartsWith(absl::StrCat("y.yaml:65:129: yaml nesting is deeper than ")));
}

TEST(YamlTreeTest, NestingAtTheLimitIsAccepted) {
  std::vector<Diagnostic> diagnostics;
  const std::string flow =
      absl::StrCat(std::string(kMaxYamlDepth, '['), "x", std::string(kMaxYamlDepth, ']'));
  EXPECT_TRUE(ParseYaml(flow, kFile, &diagnostics).has_value());
  EXPECT_TRUE(diagnostics.empty());
}

TEST(YamlTreeTest, AliasBombIsRefusedAtTheNodeLimit) {
  // "Billion laughs": 9 levels of 10 aliases each would expand to 10^9 nodes
  // from a few hundred bytes.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    absl::StrAppend(&bomb, "a", i, ": &a", i, " [");
    for (int j = 0; j < 10; ++j) absl::StrAppend(&bomb, j ? ", " : "", "*a", i - 1);
    absl::StrAppend(&bomb, "]\n");
  }
  EXPECT_THAT(Refusal(bomb), HasSubstr(absl::StrCat(": yaml document has more than ",
                                                    kMaxYamlNodes,
                                                    " nodes (are aliases expanding too much?)")));
}

TEST(YamlTreeTest, AnchorInsideItselfIsRefused) {
  EXPECT_EQ(Refusal("a: &x [*x]\n"),
            "y.yaml:1:4: yaml nesting is deeper than 64 levels (is an anchor used inside itself?)");
  EXPECT_THAT(Refusal("a: &x {b: *x}\n"), HasSubstr("yaml nesting is deeper than 64 levels"));
}

struct MalformedCase {
  const char* name;
  std::string text;
  std::string expected;  // the whole "file:line:col: message"
};

void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

class MalformedYamlTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedYamlTest, IsOneDiagnosticAtItsPosition) {
  EXPECT_EQ(Refusal(GetParam().text), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    YamlTreeTest, MalformedYamlTest,
    testing::Values(
        // yaml-cpp marks an unclosed flow collection at the end of the text.
        MalformedCase{"UnclosedFlowSequence", "a: 1\nb: [1, 2\n",
                      "y.yaml:3:1: yaml syntax error: end of sequence flow not found"},
        MalformedCase{"UnclosedFlowMapping", "a: {b: 1\n",
                      "y.yaml:2:1: yaml syntax error: end of map flow not found"},
        MalformedCase{"BadEscape", "a: \"\\q\"\n",
                      "y.yaml:1:7: yaml syntax error: unknown escape character: q"},
        MalformedCase{"UnknownAlias", "a: 1\nb: *nope\n",
                      "y.yaml:2:4: yaml syntax error: the referenced anchor is not defined"},
        MalformedCase{"BadIndentation", "a:\n  b: 1\n c: 2\n",
                      "y.yaml:3:2: yaml syntax error: end of map not found"},
        MalformedCase{"TabIndentation", "a:\n\tb: 1\n",
                      "y.yaml:2:3: yaml syntax error: illegal map value"},
        // yaml-cpp 0.7's LoadAll never returned on these (the fuzzer found it).
        MalformedCase{"CommaAlone", ",",
                      "y.yaml:1:1: yaml syntax error: unexpected \",\" outside a [...] or {...} "
                      "collection"},
        MalformedCase{"CommaAfterTheDocument", "[a, b], c",
                      "y.yaml:1:7: yaml syntax error: unexpected \",\" outside a [...] or {...} "
                      "collection"},
        MalformedCase{"CommaStartsTheSecondDocument", "a: 1\n---\n, [x]\n",
                      "y.yaml:3:1: yaml syntax error: unexpected \",\" outside a [...] or {...} "
                      "collection"},
        MalformedCase{"TwoDocuments", "a: 1\n---\nb: 2\n",
                      "y.yaml:3:1: expected one yaml document, got 2 (remove the \"---\" "
                      "separators)"},
        MalformedCase{"Empty", "", "y.yaml:1:1: experiment file is empty"},
        MalformedCase{"OnlyAComment", "# nothing\n", "y.yaml:1:1: experiment file is empty"}),
    [](const testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

TEST(YamlTreeTest, BinaryInputNeverThrows) {
  // NUL bytes, invalid UTF-8 and control characters: parsed as text or
  // refused with a positioned diagnostic; ParseYaml never throws.
  const std::string inputs[] = {std::string("a: \0\0\0b\n", 9), "\xff\xfe\xfd: \x80\n",
                                "a: \x01\x02\x1b[0m\n", std::string(1, '\0'), "\xef\xbb\xbf"};
  for (const std::string& text : inputs) {
    std::vector<Diagnostic> diagnostics;
    std::optional<YamlNode> root = ParseYaml(text, kFile, &diagnostics);
    EXPECT_NE(root.has_value(), !diagnostics.empty());
    for (const Diagnostic& d : diagnostics) {
      EXPECT_GE(d.where.line, 1);
      EXPECT_GE(d.where.column, 1);
    }
  }
}

TEST(YamlTreeTest, NullValueTakesItsKeysPosition) {
  std::vector<Diagnostic> diagnostics;
  std::optional<YamlNode> root = ParseYaml("a: 1\nb:\nc: 2\n", kFile, &diagnostics);
  ASSERT_TRUE(root.has_value());
  ASSERT_EQ(root->entries.size(), 3u);
  EXPECT_TRUE(root->entries[1].second.IsNull());
  EXPECT_EQ(root->entries[1].second.where.line, 2);
  EXPECT_EQ(root->entries[1].second.where.column, 1);
}

}  // namespace
}  // namespace faultline
