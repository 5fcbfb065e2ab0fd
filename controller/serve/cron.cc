#include "controller/serve/cron.h"

#include <array>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace faultline::controller {
namespace {

struct FieldSpec {
  const char* name;
  int min;
  int max;
  // Names for values min, min+1, ... (months from 1, weekdays from 0).
  std::vector<const char*> names;
};

const FieldSpec kMinute{"minute", 0, 59, {}};
const FieldSpec kHour{"hour", 0, 23, {}};
const FieldSpec kDayOfMonth{"day of month", 1, 31, {}};
const FieldSpec kMonth{"month", 1, 12, {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
                                        "sep", "oct", "nov", "dec"}};
// 7 is accepted as Sunday and folded onto 0 after parsing.
const FieldSpec kDayOfWeek{"day of week", 0, 7, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}};

absl::StatusOr<int> ParseValue(absl::string_view text, const FieldSpec& field,
                               absl::string_view item) {
  int value = 0;
  if (absl::SimpleAtoi(text, &value) && !text.empty() && absl::ascii_isdigit(text[0])) {
    if (value < field.min || value > field.max) {
      return absl::InvalidArgumentError(absl::StrCat(field.name, " \"", item, "\": ", value,
                                                     " is out of range ", field.min, "-",
                                                     field.max));
    }
    return value;
  }
  std::string lower = absl::AsciiStrToLower(text);
  for (size_t i = 0; i < field.names.size(); ++i) {
    if (lower == field.names[i]) return field.min + static_cast<int>(i);
  }
  std::string allowed = field.names.empty()
                            ? absl::StrCat("a number ", field.min, "-", field.max)
                            : absl::StrCat("a number ", field.min, "-", field.max, " or a name (",
                                           field.names.front(), "..", field.names.back(), ")");
  return absl::InvalidArgumentError(
      absl::StrCat(field.name, " \"", item, "\": \"", text, "\" is not ", allowed));
}

// Parses one field into `bits` (index = value). Returns whether it starts
// with '*' (Vixie cron's DOM_STAR / DOW_STAR).
template <size_t N>
absl::StatusOr<bool> ParseField(absl::string_view text, const FieldSpec& field,
                                std::bitset<N>* bits) {
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(field.name, " is empty"));
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    if (item.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field.name, " \"", text, "\": empty list element"));
    }
    absl::string_view range = item;
    int step = 1;
    bool has_step = false;
    if (size_t slash = item.find('/'); slash != absl::string_view::npos) {
      range = item.substr(0, slash);
      absl::string_view step_text = item.substr(slash + 1);
      if (!absl::SimpleAtoi(step_text, &step) || step_text.empty() ||
          !absl::ascii_isdigit(step_text[0]) || step < 1 || step > field.max - field.min + 1) {
        return absl::InvalidArgumentError(absl::StrCat(field.name, " \"", item, "\": step \"",
                                                       step_text, "\" must be 1-",
                                                       field.max - field.min + 1));
      }
      has_step = true;
    }
    int low = field.min;
    int high = field.max;
    if (range == "*") {
      // every value
    } else if (size_t dash = range.find('-'); dash != absl::string_view::npos) {
      absl::StatusOr<int> a = ParseValue(range.substr(0, dash), field, item);
      if (!a.ok()) return a.status();
      absl::StatusOr<int> b = ParseValue(range.substr(dash + 1), field, item);
      if (!b.ok()) return b.status();
      low = *a;
      high = *b;
      if (low > high) {
        return absl::InvalidArgumentError(absl::StrCat(field.name, " \"", item,
                                                       "\": range start is after its end"));
      }
    } else {
      absl::StatusOr<int> v = ParseValue(range, field, item);
      if (!v.ok()) return v.status();
      low = *v;
      high = has_step ? field.max : *v;  // "N/STEP" = N-max/STEP
    }
    for (int v = low; v <= high; v += step) bits->set(static_cast<size_t>(v));
  }
  return text[0] == '*';
}

int DaysInMonth(int year, int month) {
  static constexpr std::array<int, 13> kDays = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return 29;
  return kDays[static_cast<size_t>(month)];
}

int WeekdayIndex(absl::Weekday w) {
  switch (w) {
    case absl::Weekday::sunday: return 0;
    case absl::Weekday::monday: return 1;
    case absl::Weekday::tuesday: return 2;
    case absl::Weekday::wednesday: return 3;
    case absl::Weekday::thursday: return 4;
    case absl::Weekday::friday: return 5;
    case absl::Weekday::saturday: return 6;
  }
  return 0;
}

}  // namespace

absl::StatusOr<CronSchedule> CronSchedule::Parse(absl::string_view text) {
  std::string expression(absl::StripAsciiWhitespace(text));
  auto error = [&](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat("cron \"", expression, "\": ", message));
  };
  std::string fields_text = expression;
  if (!expression.empty() && expression[0] == '@') {
    const std::string macro = absl::AsciiStrToLower(expression);
    if (macro == "@yearly" || macro == "@annually") {
      fields_text = "0 0 1 1 *";
    } else if (macro == "@monthly") {
      fields_text = "0 0 1 * *";
    } else if (macro == "@weekly") {
      fields_text = "0 0 * * 0";
    } else if (macro == "@daily" || macro == "@midnight") {
      fields_text = "0 0 * * *";
    } else if (macro == "@hourly") {
      fields_text = "0 * * * *";
    } else {
      return error("unknown macro; want @yearly, @annually, @monthly, @weekly, @daily, "
                   "@midnight or @hourly");
    }
  }
  std::vector<absl::string_view> parts =
      absl::StrSplit(fields_text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (parts.size() != 5) {
    return error(absl::StrCat("want 5 fields (minute hour day-of-month month day-of-week), got ",
                              parts.size()));
  }
  CronSchedule cron;
  cron.text_ = expression;
  absl::StatusOr<bool> star = ParseField(parts[0], kMinute, &cron.minutes_);
  if (!star.ok()) return error(star.status().message());
  star = ParseField(parts[1], kHour, &cron.hours_);
  if (!star.ok()) return error(star.status().message());
  star = ParseField(parts[2], kDayOfMonth, &cron.days_);
  if (!star.ok()) return error(star.status().message());
  cron.dom_star_ = *star;
  star = ParseField(parts[3], kMonth, &cron.months_);
  if (!star.ok()) return error(star.status().message());
  std::bitset<8> weekdays;
  star = ParseField(parts[4], kDayOfWeek, &weekdays);
  if (!star.ok()) return error(star.status().message());
  cron.dow_star_ = *star;
  for (size_t d = 0; d < 7; ++d) cron.weekdays_[d] = weekdays[d];
  if (weekdays[7]) cron.weekdays_[0] = true;

  // A restricted day of month with an unrestricted day of week must fall in
  // one of the months ("30 feb" never does). 2000 is a leap year.
  if (!cron.dom_star_ && cron.dow_star_) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!cron.months_[static_cast<size_t>(m)]) continue;
      for (int d = 1; d <= DaysInMonth(2000, m) && !possible; ++d) {
        possible = cron.days_[static_cast<size_t>(d)];
      }
    }
    if (!possible) return error("never fires: no selected month has the selected days");
  }
  return cron;
}

bool CronSchedule::DayMatches(absl::CivilDay day) const {
  bool dom = days_[static_cast<size_t>(day.day())];
  bool dow = weekdays_[static_cast<size_t>(WeekdayIndex(absl::GetWeekday(day)))];
  if (dom_star_ || dow_star_) return dom && dow;
  return dom || dow;
}

bool CronSchedule::Matches(absl::CivilMinute t) const {
  return minutes_[static_cast<size_t>(t.minute())] && hours_[static_cast<size_t>(t.hour())] &&
         months_[static_cast<size_t>(t.month())] && DayMatches(absl::CivilDay(t));
}

std::optional<absl::Time> CronSchedule::Next(absl::Time after, absl::TimeZone zone) const {
  absl::CivilMinute t = absl::ToCivilMinute(after, zone) + 1;
  const absl::CivilMinute horizon = t + 10 * 366 * 24 * 60;
  // Each step skips a whole month, day, hour or minute that cannot match, so
  // this loop runs a few hundred times at most per call.
  while (t < horizon) {
    if (!months_[static_cast<size_t>(t.month())]) {
      t = absl::CivilMinute(absl::CivilMonth(t) + 1);
      continue;
    }
    if (!DayMatches(absl::CivilDay(t))) {
      t = absl::CivilMinute(absl::CivilDay(t) + 1);
      continue;
    }
    if (!hours_[static_cast<size_t>(t.hour())]) {
      t = absl::CivilMinute(absl::CivilHour(t) + 1);
      continue;
    }
    if (!minutes_[static_cast<size_t>(t.minute())]) {
      t += 1;
      continue;
    }
    const absl::TimeZone::TimeInfo info = zone.At(t);
    // SKIPPED: the minute does not exist; fire when the clocks jump.
    // REPEATED: fire at the first occurrence only.
    absl::Time fire = info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
    if (fire > after) return fire;
    t += 1;  // the second pass of a repeated hour, or already fired
  }
  return std::nullopt;
}

}  // namespace faultline::controller
