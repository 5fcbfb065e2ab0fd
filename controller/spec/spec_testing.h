// Test helpers for the spec tests: parse and list every diagnostic as
// "file:line:col: message", and the table-case type the bad-input tables use.
#ifndef FAULTLINE_CONTROLLER_SPEC_SPEC_TESTING_H_
#define FAULTLINE_CONTROLLER_SPEC_SPEC_TESTING_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controller/spec/experiment.h"
#include "gtest/gtest.h"

namespace faultline::controller {

inline constexpr char kFile[] = "x.yaml";

// Four lines; the method list starts on line 5, every step at column 5.
inline constexpr char kHead[] = R"(apiVersion: faultline/v1
kind: Experiment
metadata: {name: t}
method:
)";

inline std::string WithStep(const std::string& step) {
  return absl::StrCat(kHead, "  - ", step, "\n");
}

// Every problem ParseExperiment reports; checks the status agrees.
inline std::vector<std::string> Problems(const std::string& yaml) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> experiment = ParseExperiment(yaml, kFile, &diagnostics);
  std::vector<std::string> out;
  for (const Diagnostic& d : diagnostics) out.push_back(d.ToString());
  if (experiment.ok()) {
    EXPECT_TRUE(out.empty());
  } else {
    EXPECT_EQ(experiment.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(out.empty());
  }
  return out;
}

// As Problems, for ParseInventory.
inline std::vector<std::string> InventoryProblems(const std::string& yaml) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Inventory> inventory = ParseInventory(yaml, "inv.yaml", &diagnostics);
  std::vector<std::string> out;
  for (const Diagnostic& d : diagnostics) out.push_back(d.ToString());
  if (inventory.ok()) {
    EXPECT_TRUE(out.empty());
  } else {
    EXPECT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(out.empty());
  }
  return out;
}

// Parses `yaml`, failing the test (with every problem) if it is not valid.
inline Experiment MustParse(const std::string& yaml) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> e = ParseExperiment(yaml, kFile, &diagnostics);
  EXPECT_TRUE(e.ok()) << e.status();
  for (const Diagnostic& d : diagnostics) ADD_FAILURE() << d.ToString();
  return e.ok() ? *e : Experiment{};
}

struct BadCase {
  const char* name;
  std::string yaml;
  std::vector<std::string> expected;
};

// Names the case in test output instead of dumping its bytes.
inline void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

inline std::string CaseName(const ::testing::TestParamInfo<BadCase>& info) {
  return info.param.name;
}

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SPEC_SPEC_TESTING_H_
