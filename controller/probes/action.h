// Rollback actions: the user-declared commands and HTTP calls a run executes
// after its method (besides reverting every fault), as the experiment's
// rollback policy decides. The runner calls RunAction for each and journals
// the result; a failed action is recorded, it does not stop the others.
//
// Thread-safe (no shared state; InitProbes() must have run once).
#ifndef FAULTLINE_CONTROLLER_PROBES_ACTION_H_
#define FAULTLINE_CONTROLLER_PROBES_ACTION_H_

#include "controller/probes/probe.h"
#include "controller/spec/experiment.h"

namespace faultline::controller {

// Runs `action` once, bounded by action.timeout, and reports it as a
// ProbeResult (value unset):
//   exec  /bin/sh -c command in its own process group (killed at the
//         timeout); ok = exit 0; detail "exit 0"; error
//         "command exited 1 (output: \"...\")", "command timed out after 30000ms"
//   http  method (GET/POST/PUT/DELETE) to url with body (Content-Type
//         application/json when the body parses as JSON, else text/plain);
//         ok = any 2xx; detail "status 204"; error "POST url: status 500"
// Not idempotent in general: it does whatever the action does.
ProbeResult RunAction(const RollbackAction& action);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_PROBES_ACTION_H_
