// What a person asking "where is my run?" needs beyond its journal record:
// the verdict (or why it was skipped or interrupted) and the pause gate it
// waits at. Shared by serve's GetRun and `faultline status` on a local
// journal, so both answer the same. Pure.
#ifndef FAULTLINE_CONTROLLER_SERVE_RUN_INFO_H_
#define FAULTLINE_CONTROLLER_SERVE_RUN_INFO_H_

#include <string>
#include <vector>

#include "controller/store/journal_store.h"

namespace faultline::controller {

struct RunInfo {
  std::string verdict;          // run.finished's verdict, else the skip/interrupt reason
  std::string waiting_gate;     // step path of the open pause gate ("" = none)
  std::string waiting_message;  // the gate's message
};

RunInfo SummarizeRun(const RunRecord& run, const std::vector<Event>& events);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SERVE_RUN_INFO_H_
