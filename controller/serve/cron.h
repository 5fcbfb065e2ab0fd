// CronSchedule: the standard 5-field cron expression `faultline serve` uses to
// start experiments on a schedule, evaluated in an IANA time zone.
//
//   ┌ minute 0-59   ┌ hour 0-23   ┌ day of month 1-31   ┌ month 1-12 or jan-dec
//   │               │             │                     │   ┌ day of week 0-7 (0 and 7 = Sunday) or sun-sat
//   */5             9-17          *                     *   mon-fri
//
// Each field is a comma list of `*`, `N`, `A-B`, each optionally `/STEP`
// (`N/STEP` means N-max/STEP, as in cronie). Names are case-insensitive, also
// inside ranges ("mon-fri"). Day of month and day of week combine as in Vixie
// cron: when both are restricted (neither field starts with `*`), a day
// matches if EITHER matches ("0 0 1,15 * mon" = the 1st, the 15th and every
// Monday); otherwise both must match. Macros: @yearly (@annually), @monthly,
// @weekly, @daily (@midnight), @hourly. @reboot is not supported.
//
// Daylight-saving time: every wall-clock minute fires at most once. A minute
// that does not exist (spring forward) fires at the transition instant, so a
// daily 02:30 job still runs that day (at 03:00); a minute that exists twice
// (fall back) fires at its first occurrence only.
//
// Value type; immutable after Parse; thread-safe.
#ifndef FAULTLINE_CONTROLLER_SERVE_CRON_H_
#define FAULTLINE_CONTROLLER_SERVE_CRON_H_

#include <bitset>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace faultline::controller {

class CronSchedule {
 public:
  // Parses `text`. InvalidArgument naming the field and the problem, e.g.
  // `cron "61 * * * *": minute "61" is out of range 0-59`, and for
  // expressions that can never fire ("0 0 30 feb *").
  static absl::StatusOr<CronSchedule> Parse(absl::string_view text);

  // Whether the wall-clock minute `t` matches every field.
  bool Matches(absl::CivilMinute t) const;

  // The first fire strictly after `after`, with wall-clock times read in
  // `zone` (DST rules above). nullopt only if none exists within 10 years
  // (cannot happen for an expression Parse accepted, barring zone rules).
  std::optional<absl::Time> Next(absl::Time after, absl::TimeZone zone) const;

  // The expression as given (macros as written).
  const std::string& text() const { return text_; }

 private:
  bool DayMatches(absl::CivilDay day) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;      // 1..31
  std::bitset<13> months_;    // 1..12
  std::bitset<7> weekdays_;   // 0 = Sunday
  bool dom_star_ = true;      // the day-of-month field starts with '*'
  bool dow_star_ = true;      // the day-of-week field starts with '*'
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SERVE_CRON_H_
