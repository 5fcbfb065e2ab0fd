// Scheduler: when each configured schedule of `faultline serve` fires. Pure
// timing logic with no clock of its own: every call takes `now`, so tests
// drive it through years, DST changes and restarts with a fake clock, and the
// daemon feeds it the real one. What a fire then does (window, blackout,
// halt, concurrency, journal) is the daemon's business.
//
// Missed fires across restarts: the daemon persists, per schedule, the time
// up to which fires were handled ("covered"). Start() counts the fires in
// (covered, now] that nobody handled because the daemon was down; the
// schedule's `missed` policy says whether that is reported (skip) or also
// run once (run-once).
//
// Thread-compatible: the daemon calls it under its own lock.
#ifndef FAULTLINE_CONTROLLER_SERVE_SCHEDULER_H_
#define FAULTLINE_CONTROLLER_SERVE_SCHEDULER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controller/serve/config.h"

namespace faultline::controller {

// Missed fires are counted up to this many; beyond it `capped` is set.
inline constexpr int kMaxCountedMissedFires = 10000;

struct ScheduledFire {
  std::string schedule;
  absl::Time time;     // the cron time of the fire
  int collapsed = 0;   // earlier due fires folded into this one (the daemon was late)
};

struct MissedFires {
  std::string schedule;
  int count = 0;       // fires in (covered, now]
  bool capped = false; // count stopped at kMaxCountedMissedFires
  absl::Time first;
  absl::Time last;
  MissedPolicy policy = MissedPolicy::kSkip;
};

class Scheduler {
 public:
  explicit Scheduler(std::vector<ScheduleConfig> schedules);

  // Arms every schedule at `now` and returns, for each schedule with an
  // entry in `covered` (name -> time up to which its fires were handled),
  // the fires in (covered, now] if there were any. Schedules without an
  // entry are new: nothing was missed. Call once, before TakeDue.
  std::vector<MissedFires> Start(absl::Time now,
                                 const std::map<std::string, absl::Time>& covered);

  // The fires due at `now` (cron time <= now), at most one per schedule: if
  // several passed (the process was suspended), the latest is returned and
  // the others are counted in `collapsed`. Advances each returned schedule
  // to its next fire after `now`.
  std::vector<ScheduledFire> TakeDue(absl::Time now);

  // The earliest upcoming fire of any schedule; InfiniteFuture if none.
  absl::Time NextWake() const;

  // The next fire of `name`, nullopt if unknown or never.
  std::optional<absl::Time> NextFire(const std::string& name) const;

  // The schedule called `name`, or null.
  const ScheduleConfig* Find(const std::string& name) const;
  const std::vector<ScheduleConfig>& schedules() const { return schedules_; }

 private:
  std::vector<ScheduleConfig> schedules_;
  std::vector<std::optional<absl::Time>> next_;  // per schedule; nullopt = never
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SERVE_SCHEDULER_H_
