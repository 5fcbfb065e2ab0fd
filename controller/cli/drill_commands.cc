#include "controller/cli/drill_commands.h"

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "boost/program_options.hpp"
#include "controller/cli/cli_common.h"
#include "controller/drill/drill_from.h"
#include "controller/run/runner.h"
#include "controller/store/journal_store.h"

namespace po = boost::program_options;

namespace faultline::controller {

int DrillFromCommand(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string run_id, out;
  po::options_description options = CommonOptions(&common);
  options.add_options()
      ("run", po::value(&run_id), "run id or unique prefix/suffix")
      ("out,o", po::value(&out), "write the drill to this file instead of stdout");
  po::positional_options_description positional;
  positional.add("run", 1);
  po::variables_map vm;
  if (!ParseArgs(args, options, positional, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help") || run_id.empty()) {
    std::cout << "usage: faultline drill-from RUN [--out FILE]\n"
                 "writes a Drill that replays RUN: same hosts, offsets, parameters, seed\n"
              << options;
    return run_id.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  auto store = OpenJournal(common);
  if (!store.ok()) {
    std::cerr << "faultline: " << store.status().message() << "\n";
    return kExitAborted;
  }
  auto run = (*store)->GetRun(run_id);
  if (!run.ok()) {
    std::cerr << "faultline: " << run.status().message() << "\n";
    return absl::IsNotFound(run.status()) || absl::IsInvalidArgument(run.status())
               ? kExitInvalid
               : kExitAborted;
  }
  auto events = (*store)->Events(run->run_id);
  if (!events.ok()) {
    std::cerr << "faultline: " << events.status().message() << "\n";
    return kExitAborted;
  }
  absl::StatusOr<std::string> drill = DrillFromRun(*run, *events);
  if (!drill.ok()) {
    std::cerr << "faultline: " << drill.status().message() << "\n";
    return absl::IsFailedPrecondition(drill.status()) ? kExitInvalid : kExitAborted;
  }
  if (out.empty()) {
    std::cout << *drill;
    return 0;
  }
  std::ofstream file(out);
  file << *drill;
  file.close();
  if (!file) {
    std::cerr << "faultline: cannot write " << out << "\n";
    return kExitAborted;
  }
  std::cerr << "faultline: wrote " << out << " (a drill replaying run " << run->run_id
            << "; check it with faultline validate " << out << ")\n";
  return 0;
}

}  // namespace faultline::controller
