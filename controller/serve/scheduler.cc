#include "controller/serve/scheduler.h"

namespace faultline::controller {

Scheduler::Scheduler(std::vector<ScheduleConfig> schedules)
    : schedules_(std::move(schedules)), next_(schedules_.size()) {}

std::vector<MissedFires> Scheduler::Start(absl::Time now,
                                          const std::map<std::string, absl::Time>& covered) {
  std::vector<MissedFires> missed;
  for (size_t i = 0; i < schedules_.size(); ++i) {
    const ScheduleConfig& s = schedules_[i];
    next_[i] = s.cron.Next(now, s.zone);
    auto it = covered.find(s.name);
    if (it == covered.end() || it->second >= now) continue;
    MissedFires m;
    m.schedule = s.name;
    m.policy = s.missed;
    for (std::optional<absl::Time> t = s.cron.Next(it->second, s.zone); t && *t <= now;
         t = s.cron.Next(*t, s.zone)) {
      if (m.count == 0) m.first = *t;
      m.last = *t;
      if (++m.count >= kMaxCountedMissedFires) {
        m.capped = s.cron.Next(*t, s.zone).value_or(absl::InfiniteFuture()) <= now;
        break;
      }
    }
    if (m.count > 0) missed.push_back(m);
  }
  return missed;
}

std::vector<ScheduledFire> Scheduler::TakeDue(absl::Time now) {
  std::vector<ScheduledFire> due;
  for (size_t i = 0; i < schedules_.size(); ++i) {
    if (!next_[i] || *next_[i] > now) continue;
    const ScheduleConfig& s = schedules_[i];
    ScheduledFire fire{s.name, *next_[i], 0};
    std::optional<absl::Time> next = s.cron.Next(fire.time, s.zone);
    while (next && *next <= now) {
      ++fire.collapsed;
      fire.time = *next;
      next = s.cron.Next(fire.time, s.zone);
    }
    next_[i] = next;
    due.push_back(fire);
  }
  return due;
}

absl::Time Scheduler::NextWake() const {
  absl::Time wake = absl::InfiniteFuture();
  for (const std::optional<absl::Time>& t : next_) {
    if (t && *t < wake) wake = *t;
  }
  return wake;
}

std::optional<absl::Time> Scheduler::NextFire(const std::string& name) const {
  for (size_t i = 0; i < schedules_.size(); ++i) {
    if (schedules_[i].name == name) return next_[i];
  }
  return std::nullopt;
}

const ScheduleConfig* Scheduler::Find(const std::string& name) const {
  for (const ScheduleConfig& s : schedules_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace faultline::controller
