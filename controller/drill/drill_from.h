// `faultline drill-from RUN`: turns a recorded run into a Drill file that
// replays it exactly. Reads what the journal says happened (store/ ->
// here -> a YAML text the spec parses like any other drill).
//
// What the drill holds:
//   metadata.name       "<experiment>-replay" (cut to stay a valid name)
//   metadata.description names the source run, its experiment and start time;
//                        hypothesis, roles, labels, owner, runbook copied
//   seed                the seed of the source run's plan event
//   speed               the source run's speed (run.started `speed`, else the
//                       source file's), so offsets and durations keep the
//                       source's time base and the same wall-clock result
//   targets             one per target group the run hit, listing the agent
//                       addresses of the hosts actually faulted (from the
//                       plan's hosts); inventory names in comments. Faults on
//                       the embedded agent get no target.
//   timeline            one entry per fault step that applied at least once,
//                       ordered by at: at = (first fault.applied of the step
//                       - first fault.applied of the run) x speed + the
//                       planned offset of the run's first fault (plan event;
//                       without it, the first step.started is time zero),
//                       ms precision; the step's fault/params/duration/
//                       ramp/flap copied from the source file as written
//   steady_state, abort_when, rollback, expect, alerts, notify
//                       copied from the source file as written
//
// Offsets come from the journal's event times: the spacing between faults
// is kept to the millisecond as it happened (apply latencies included), the
// constant delay before the first apply is not, so replays of replays do not
// drift by it.
// Pure functions, thread-safe.
#ifndef FAULTLINE_CONTROLLER_DRILL_DRILL_FROM_H_
#define FAULTLINE_CONTROLLER_DRILL_DRILL_FROM_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/store/journal_store.h"

namespace faultline::controller {

// The drill YAML replaying `run` whose journal is `events` (in seq order).
// FailedPrecondition: the run applied no fault (nothing to replay; includes
// dry runs). DataLoss: the run's stored YAML cannot be read or does not
// contain a step the journal names. Internal: the generated text does not
// parse as a drill (a bug; the message has the first problem). Pure.
absl::StatusOr<std::string> DrillFromRun(const RunRecord& run, const std::vector<Event>& events);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_DRILL_DRILL_FROM_H_
