#include "controller/cli/review_commands.h"

#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "boost/program_options.hpp"
#include "controller/cli/cli_common.h"
#include "controller/report/report.h"
#include "controller/run/runner.h"
#include "controller/store/journal_store.h"

namespace po = boost::program_options;

namespace faultline::controller {
namespace {

// `show` and `report`: render one run.
int Render(const std::vector<std::string>& args, bool report) {
  CommonFlags common;
  std::string run_id, format = "md", out;
  po::options_description options = CommonOptions(&common);
  options.add_options()("run", po::value(&run_id), "run id or unique prefix");
  if (report) {
    options.add_options()
        ("format", po::value(&format)->default_value("md"), "md|json|junit")
        ("out,o", po::value(&out), "write to this file instead of stdout");
  }
  po::positional_options_description positional;
  positional.add("run", 1);
  po::variables_map vm;
  if (!ParseArgs(args, options, positional, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help") || run_id.empty()) {
    std::cout << (report ? "usage: faultline report RUN --format md|json|junit [--out FILE]\n"
                         : "usage: faultline show RUN\n")
              << options;
    return run_id.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  std::optional<ReportFormat> parsed;
  if (report) {
    auto f = ParseReportFormat(format);
    if (!f.ok()) {
      std::cerr << "faultline: " << f.status().message() << "\n";
      return kExitInvalid;
    }
    parsed = *f;
  }
  auto store = OpenJournal(common);
  if (!store.ok()) {
    std::cerr << "faultline: " << store.status().message() << "\n";
    return kExitAborted;
  }
  (void)(*store)->MarkInterrupted();
  auto run = (*store)->GetRun(run_id);
  if (!run.ok()) {
    std::cerr << "faultline: " << run.status().message() << "\n";
    return kExitInvalid;
  }
  auto events = (*store)->Events(run->run_id);
  if (!events.ok()) {
    std::cerr << "faultline: " << events.status().message() << "\n";
    return kExitAborted;
  }
  std::string text = report ? RenderReport(*parsed, *run, *events) : RenderTimeline(*run, *events);
  if (out.empty()) {
    std::cout << text;
  } else {
    std::ofstream file(out);
    file << text;
    if (!file) {
      std::cerr << "faultline: cannot write " << out << "\n";
      return kExitAborted;
    }
  }
  return 0;
}

}  // namespace

int RunsCommand(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string experiment;
  int limit = 50;
  po::options_description options = CommonOptions(&common);
  options.add_options()
      ("experiment", po::value(&experiment), "only runs of this experiment")
      ("limit", po::value(&limit)->default_value(50), "at most this many runs");
  po::variables_map vm;
  if (!ParseArgs(args, options, {}, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help")) {
    std::cout << "usage: faultline runs [--experiment NAME] [--limit N]\n" << options;
    return 0;
  }
  auto store = OpenJournal(common);
  if (!store.ok()) {
    std::cerr << "faultline: " << store.status().message() << "\n";
    return kExitAborted;
  }
  (void)(*store)->MarkInterrupted();
  RunFilter filter;
  filter.experiment = experiment;
  filter.limit = limit;
  auto runs = (*store)->ListRuns(filter);
  if (!runs.ok()) {
    std::cerr << "faultline: " << runs.status().message() << "\n";
    return kExitAborted;
  }
  std::cout << RenderRunsTable(*runs);
  return 0;
}

int ShowCommand(const std::vector<std::string>& args) { return Render(args, /*report=*/false); }

int ReportCommand(const std::vector<std::string>& args) { return Render(args, /*report=*/true); }

}  // namespace faultline::controller
