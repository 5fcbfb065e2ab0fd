// Journal events that steer a running experiment from outside its process.
// `faultline continue RUN`, `faultline abort RUN` and `faultline note RUN`
// append them to the run's journal (directly, or through `faultline serve`);
// the Runner polls its own run's events and reacts. Using the journal as the
// channel means a standalone `faultline run` and a run inside `serve` are
// steered the same way, and every intervention is recorded where reviewers
// read the run.
#ifndef FAULTLINE_CONTROLLER_RUN_CONTROL_EVENTS_H_
#define FAULTLINE_CONTROLLER_RUN_CONTROL_EVENTS_H_

namespace faultline::controller {

// {"by": "alice", "gate": "<step path>" or ""} - opens the pause gate the
// run is waiting at ("" = whichever gate is current).
inline constexpr char kEventContinue[] = "gate.continue";
// {"by": "...", "reason": "..."} - stop injecting, revert everything, exit 3.
inline constexpr char kEventAbortRequested[] = "abort.requested";
// {"text": "...", "author": "..."} - a note for the review; no effect on the run.
inline constexpr char kEventNote[] = "note";

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_RUN_CONTROL_EVENTS_H_
