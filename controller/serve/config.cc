#include "controller/serve/config.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/yaml/fields.h"
#include "controller/spec/rules.h"
#include "common/yaml/yaml_tree.h"

namespace faultline::controller {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// `path` relative to the directory of `file`, unless absolute.
std::string Resolve(const std::string& file, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  std::filesystem::path dir = std::filesystem::path(file).parent_path();
  return dir.empty() ? path : (dir / p).lexically_normal().string();
}

std::string FormatMinute(int minute) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%02d:%02d", minute / 60, minute % 60);
  return buf;
}

int DayIndex(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  for (int i = 0; i < 7; ++i) {
    if (lower == kDayNames[i]) return i;
  }
  return -1;
}

class ConfigReader {
 public:
  explicit ConfigReader(ServeConfig* out) : out_(out) {}
  Diagnostics& diagnostics() { return diagnostics_; }

  void Read(const YamlNode& root) {
    if (!root.IsMapping()) {
      diagnostics_.Add(root.where, absl::StrCat("expected a mapping at the top level of the "
                                                "serve config, got ",
                                                Describe(root)));
      return;
    }
    Fields f(root, "serve config", &diagnostics_);
    if (const YamlNode* v = f.Get("listen")) {
      if (auto s = ReadString(*v, "listen", &diagnostics_)) {
        if (s->empty() || (s->find(':') == std::string::npos)) {
          diagnostics_.Add(v->where, absl::StrCat("listen must be HOST:PORT or unix:/path, got ",
                                                  Describe(*v)));
        } else {
          out_->listen = *s;
        }
      }
    }
    if (const YamlNode* v = f.Get("journal")) {
      if (auto s = ReadString(*v, "journal", &diagnostics_)) out_->journal = Path(*s);
    }
    if (const YamlNode* v = f.Get("inventory")) {
      if (auto s = ReadString(*v, "inventory", &diagnostics_)) out_->inventory_path = Path(*s);
    }
    if (const YamlNode* v = f.Get("lease_ttl")) {
      if (auto d = ReadDuration(*v, "lease_ttl", std::chrono::seconds(1), std::chrono::hours(1),
                                "between 1s and 1h", &diagnostics_)) {
        out_->lease_ttl = *d;
      }
    }
    if (const YamlNode* v = f.Get("halt_deadline")) {
      if (auto d = ReadDuration(*v, "halt_deadline", std::chrono::milliseconds(100),
                                std::chrono::minutes(5), "between 100ms and 5m", &diagnostics_)) {
        out_->halt_deadline = *d;
      }
    }
    if (const YamlNode* v = f.Get("embedded_dir")) {
      if (auto s = ReadString(*v, "embedded_dir", &diagnostics_)) out_->embedded_dir = Path(*s);
    }
    if (const YamlNode* v = f.Get("agent_binary")) {
      if (auto s = ReadString(*v, "agent_binary", &diagnostics_)) out_->agent_binary = Path(*s);
    }
    if (const YamlNode* v = f.Get("tls")) ReadTls(*v);
    if (const YamlNode* v = f.Get("alertmanager_webhook")) ReadWebhook(*v);
    if (const YamlNode* v = f.Get("schedules")) ReadSchedules(*v);
    if (const YamlNode* v = f.Get("window")) ReadWindow(*v);
    if (const YamlNode* v = f.Get("blackout")) ReadBlackouts(*v);
    f.Finish();
  }

 private:
  std::string Path(const std::string& p) { return p.empty() ? p : Resolve(out_->path, p); }

  std::optional<absl::TimeZone> ReadZone(const YamlNode& node, absl::string_view field) {
    std::optional<std::string> name = ReadString(node, field, &diagnostics_);
    if (!name) return std::nullopt;
    absl::TimeZone zone;
    if (name->empty() || !absl::LoadTimeZone(*name, &zone)) {
      diagnostics_.Add(node.where, absl::StrCat(field, " must be an IANA time zone such as UTC "
                                                       "or Europe/Berlin, got ",
                                                Describe(node)));
      return std::nullopt;
    }
    return zone;
  }

  void ReadTls(const YamlNode& node) {
    if (!ExpectMapping(node, "tls", &diagnostics_) || node.entries.empty()) return;
    Fields f(node, "tls", &diagnostics_);
    std::vector<std::string> missing;
    for (auto [key, out] : {std::pair<const char*, std::string*>{"ca", &out_->tls.ca},
                            {"cert", &out_->tls.cert},
                            {"key", &out_->tls.key}}) {
      const YamlNode* v = f.Get(key);
      if (v == nullptr) {
        missing.push_back(key);
        continue;
      }
      if (auto path = ReadString(*v, absl::StrCat("tls.", key), &diagnostics_)) {
        if (path->empty()) {
          diagnostics_.Add(v->where, absl::StrCat("tls.", key, " must be a file path, got \"\""));
        } else {
          *out = Path(*path);
        }
      }
    }
    f.Finish();
    if (!missing.empty()) {
      diagnostics_.Add(node.where, absl::StrCat("tls needs ca, cert and key together; missing ",
                                                absl::StrJoin(missing, ", ")));
    }
    out_->tls_where = node.where;
  }

  void ReadWebhook(const YamlNode& node) {
    if (!ExpectMapping(node, "alertmanager_webhook", &diagnostics_)) return;
    Fields f(node, "alertmanager_webhook", &diagnostics_);
    if (const YamlNode* v = f.Require("listen")) {
      if (auto s = ReadString(*v, "alertmanager_webhook.listen", &diagnostics_)) {
        const size_t colon = s->rfind(':');
        int port = -1;
        if (colon == std::string::npos || colon == 0 ||
            !absl::SimpleAtoi(s->substr(colon + 1), &port) || port < 0 || port > 65535) {
          diagnostics_.Add(v->where, absl::StrCat("alertmanager_webhook.listen must be "
                                                  "HOST:PORT, got ",
                                                  Describe(*v)));
        } else {
          out_->alertmanager_webhook_listen = *s;
        }
      }
    }
    f.Finish();
  }

  void ReadSchedules(const YamlNode& node) {
    if (!ExpectSequence(node, "schedules", &diagnostics_)) return;
    for (size_t i = 0; i < node.items.size(); ++i) {
      const YamlNode& item = node.items[i];
      const std::string context = absl::StrCat("schedules[", i, "]");
      if (!ExpectMapping(item, context, &diagnostics_)) continue;
      ScheduleConfig s;
      s.where = item.where;
      bool ok = true;
      Fields f(item, context, &diagnostics_);
      const YamlNode* experiment = f.Require("experiment");
      if (experiment == nullptr) {
        ok = false;
      } else if (auto p = ReadString(*experiment, absl::StrCat(context, ".experiment"),
                                     &diagnostics_)) {
        s.experiment_path = Path(*p);
        s.name = std::filesystem::path(*p).stem().string();
      } else {
        ok = false;
      }
      const YamlNode* name_node = f.Get("name");
      if (name_node != nullptr) {
        std::optional<std::string> name =
            ReadString(*name_node, absl::StrCat(context, ".name"), &diagnostics_);
        if (!name || !ValidName(*name)) {
          if (name) {
            diagnostics_.Add(name_node->where,
                             absl::StrCat(context, ".name must be 1-63 characters from "
                                                   "[A-Za-z0-9._-], got ",
                                          Describe(*name_node)));
          }
          ok = false;
        } else {
          s.name = *name;
        }
      } else if (ok && !ValidName(s.name)) {
        diagnostics_.Add(item.where,
                         absl::StrCat(context, ": the experiment file name \"", s.name,
                                      "\" is not a valid schedule name; set name: explicitly"));
        ok = false;
      }
      if (const YamlNode* sched = f.Require("schedule")) {
        const std::string sched_context = absl::StrCat(context, ".schedule");
        if (ExpectMapping(*sched, sched_context, &diagnostics_)) {
          Fields sf(*sched, sched_context, &diagnostics_);
          if (const YamlNode* cron = sf.Require("cron")) {
            if (auto text = ReadString(*cron, absl::StrCat(sched_context, ".cron"),
                                       &diagnostics_)) {
              absl::StatusOr<CronSchedule> parsed = CronSchedule::Parse(*text);
              if (parsed.ok()) {
                s.cron = *parsed;
              } else {
                diagnostics_.Add(cron->where, std::string(parsed.status().message()));
                ok = false;
              }
            } else {
              ok = false;
            }
          } else {
            ok = false;
          }
          if (const YamlNode* tz = sf.Get("timezone")) {
            if (auto zone = ReadZone(*tz, absl::StrCat(sched_context, ".timezone"))) {
              s.zone = *zone;
              s.timezone = tz->scalar;
            } else {
              ok = false;
            }
          }
          sf.Finish();
        } else {
          ok = false;
        }
      } else {
        ok = false;
      }
      if (const YamlNode* v = f.Get("concurrency")) {
        auto text = ReadString(*v, absl::StrCat(context, ".concurrency"), &diagnostics_);
        if (text && *text == "forbid") {
          s.concurrency = Concurrency::kForbid;
        } else if (text && *text == "allow") {
          s.concurrency = Concurrency::kAllow;
        } else {
          if (text) {
            diagnostics_.Add(v->where, absl::StrCat(context, ".concurrency must be forbid or "
                                                             "allow, got ",
                                                    Describe(*v)));
          }
          ok = false;
        }
      }
      if (const YamlNode* v = f.Get("missed")) {
        auto text = ReadString(*v, absl::StrCat(context, ".missed"), &diagnostics_);
        if (text && *text == "skip") {
          s.missed = MissedPolicy::kSkip;
        } else if (text && *text == "run-once") {
          s.missed = MissedPolicy::kRunOnce;
        } else {
          if (text) {
            diagnostics_.Add(v->where, absl::StrCat(context, ".missed must be skip or run-once, "
                                                             "got ",
                                                    Describe(*v)));
          }
          ok = false;
        }
      }
      f.Finish();
      if (!ok) continue;
      auto same = std::find_if(out_->schedules.begin(), out_->schedules.end(),
                               [&](const ScheduleConfig& other) { return other.name == s.name; });
      if (same != out_->schedules.end()) {
        diagnostics_.Add(name_node != nullptr ? name_node->where : item.where,
                         absl::StrCat("schedule name \"", s.name, "\" is used twice (first at ",
                                      LineColumn(same->where),
                                      "); give each schedule its own name"));
        continue;
      }
      out_->schedules.push_back(std::move(s));
    }
  }

  static bool ValidName(const std::string& name) {
    if (name.empty() || name.size() > 63) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
      return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
             c == '-';
    });
  }

  // "HH:MM"; "24:00" only when `allow_24`.
  std::optional<int> ReadClock(const YamlNode& node, absl::string_view field, bool allow_24) {
    int h = -1, m = -1;
    bool ok = node.IsScalar() && node.scalar.size() == 5 && node.scalar[2] == ':' &&
              absl::SimpleAtoi(node.scalar.substr(0, 2), &h) &&
              absl::SimpleAtoi(node.scalar.substr(3, 2), &m) && absl::ascii_isdigit(node.scalar[0]) &&
              absl::ascii_isdigit(node.scalar[3]) && m >= 0 && m < 60 && h >= 0 &&
              (h < 24 || (allow_24 && h == 24 && m == 0));
    if (!ok) {
      diagnostics_.Add(node.where, absl::StrCat(field, " must be a time HH:MM such as \"09:00\"",
                                                allow_24 ? " (or \"24:00\")" : "", ", got ",
                                                Describe(node)));
      return std::nullopt;
    }
    return h * 60 + m;
  }

  void ReadWindow(const YamlNode& node) {
    if (!ExpectMapping(node, "window", &diagnostics_)) return;
    WindowConfig w;
    bool ok = true;
    Fields f(node, "window", &diagnostics_);
    if (const YamlNode* days = f.Get("days")) {
      if (ExpectSequence(*days, "window.days", &diagnostics_) && !days->items.empty()) {
        for (const YamlNode& day : days->items) {
          std::optional<std::string> text = ReadString(day, "window.days", &diagnostics_);
          if (!text) {
            ok = false;
            continue;
          }
          size_t dash = text->find('-');
          int a = DayIndex(text->substr(0, dash));
          int b = dash == std::string::npos ? a : DayIndex(text->substr(dash + 1));
          if (a < 0 || b < 0) {
            diagnostics_.Add(day.where, absl::StrCat("window.days entries must be mon, tue, wed, "
                                                     "thu, fri, sat, sun or a range such as "
                                                     "mon-fri, got ",
                                                     Describe(day)));
            ok = false;
            continue;
          }
          // Ranges run forward through the week: fri-mon = fri, sat, sun, mon.
          for (int d = a;; d = (d + 1) % 7) {
            w.days.set(static_cast<size_t>(d));
            if (d == b) break;
          }
        }
      } else {
        if (days->IsSequence()) {
          diagnostics_.Add(days->where, "window.days must list at least one day");
        }
        ok = false;
      }
    } else {
      w.days.set();  // every day
    }
    const YamlNode* from = f.Require("from");
    const YamlNode* to = f.Require("to");
    std::optional<int> from_minute, to_minute;
    if (from != nullptr) from_minute = ReadClock(*from, "window.from", /*allow_24=*/false);
    if (to != nullptr) to_minute = ReadClock(*to, "window.to", /*allow_24=*/true);
    if (!from_minute || !to_minute) {
      ok = false;
    } else if (*from_minute == *to_minute) {
      diagnostics_.Add(to->where, "window.to must differ from window.from (the window would be "
                                  "empty)");
      ok = false;
    } else {
      w.from_minute = *from_minute;
      w.to_minute = *to_minute;
    }
    if (const YamlNode* tz = f.Get("timezone")) {
      if (auto zone = ReadZone(*tz, "window.timezone")) {
        w.zone = *zone;
        w.timezone = tz->scalar;
      } else {
        ok = false;
      }
    }
    f.Finish();
    if (ok) out_->window = w;
  }

  std::optional<absl::Time> ReadInstant(const YamlNode& node, absl::string_view field) {
    absl::Time t;
    std::string error;
    if (!node.IsScalar() || !absl::ParseTime(absl::RFC3339_full, node.scalar, &t, &error)) {
      diagnostics_.Add(node.where, absl::StrCat(field, " must be an RFC 3339 time such as "
                                                       "2026-12-24T00:00:00Z, got ",
                                                Describe(node)));
      return std::nullopt;
    }
    return t;
  }

  void ReadBlackouts(const YamlNode& node) {
    if (!ExpectSequence(node, "blackout", &diagnostics_)) return;
    for (size_t i = 0; i < node.items.size(); ++i) {
      const YamlNode& item = node.items[i];
      const std::string context = absl::StrCat("blackout[", i, "]");
      if (!ExpectMapping(item, context, &diagnostics_)) continue;
      Fields f(item, context, &diagnostics_);
      BlackoutConfig b;
      b.where = item.where;
      const YamlNode* from = f.Require("from");
      const YamlNode* to = f.Require("to");
      std::optional<absl::Time> from_t, to_t;
      if (from != nullptr) from_t = ReadInstant(*from, absl::StrCat(context, ".from"));
      if (to != nullptr) to_t = ReadInstant(*to, absl::StrCat(context, ".to"));
      if (const YamlNode* reason = f.Get("reason")) {
        if (auto text = ReadString(*reason, absl::StrCat(context, ".reason"), &diagnostics_)) {
          b.reason = *text;
        }
      }
      f.Finish();
      if (!from_t || !to_t) continue;
      if (*to_t <= *from_t) {
        diagnostics_.Add(to->where, absl::StrCat(context, ".to must be after ", context, ".from"));
        continue;
      }
      b.from = *from_t;
      b.to = *to_t;
      out_->blackouts.push_back(std::move(b));
    }
  }

  ServeConfig* out_;
  Diagnostics diagnostics_;
};

std::string FormatInstant(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace

const char* ConcurrencyName(Concurrency c) {
  return c == Concurrency::kForbid ? "forbid" : "allow";
}

const char* MissedPolicyName(MissedPolicy m) {
  return m == MissedPolicy::kSkip ? "skip" : "run-once";
}

std::string WindowConfig::Describe() const {
  std::vector<std::string> names;
  if (days.all()) {
    names.push_back("every day");
  } else {
    // Monday first, as people write it.
    for (int i = 1; i <= 7; ++i) {
      if (days[static_cast<size_t>(i % 7)]) names.push_back(kDayNames[i % 7]);
    }
  }
  return absl::StrCat(absl::StrJoin(names, ","), " ", FormatMinute(from_minute), "-",
                      FormatMinute(to_minute), " ", timezone);
}

absl::StatusOr<ServeConfig> ParseServeConfig(const std::string& yaml_text,
                                             const std::string& file_name,
                                             std::vector<Diagnostic>* diagnostics) {
  ServeConfig config;
  config.path = file_name;
  ConfigReader reader(&config);
  std::vector<Diagnostic>& found = reader.diagnostics().list();
  if (std::optional<YamlNode> root = ParseYaml(yaml_text, file_name, &found)) {
    reader.Read(*root);
  }
  if (found.empty()) return config;
  return FinishDiagnostics(found, diagnostics);
}

absl::StatusOr<ServeConfig> LoadServeConfig(const std::string& path,
                                            std::vector<Diagnostic>* diagnostics) {
  absl::StatusOr<std::string> text = ReadFileAtMost(path, kMaxConfigBytes, "serve config ");
  if (absl::IsOutOfRange(text.status())) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": serve config is larger than 1 MiB"));
  }
  if (!text.ok()) return text.status();
  return ParseServeConfig(*text, path, diagnostics);
}

std::string WindowOrBlackoutReason(const ServeConfig& config, absl::Time t) {
  for (const BlackoutConfig& b : config.blackouts) {
    if (t >= b.from && t < b.to) {
      return absl::StrCat("inside blackout ", FormatInstant(b.from), "..", FormatInstant(b.to),
                          b.reason.empty() ? "" : ": ", b.reason);
    }
  }
  if (config.window.has_value()) {
    const WindowConfig& w = *config.window;
    absl::CivilMinute local = absl::ToCivilMinute(t, w.zone);
    int minute = local.hour() * 60 + local.minute();
    absl::CivilDay day(local);
    bool inside = false;
    if (w.from_minute < w.to_minute) {
      inside = minute >= w.from_minute && minute < w.to_minute;
    } else if (minute >= w.from_minute) {
      inside = true;  // evening part, belongs to today
    } else if (minute < w.to_minute) {
      inside = true;  // early-morning part, belongs to yesterday
      day -= 1;
    }
    auto weekday = [](absl::CivilDay d) {
      switch (absl::GetWeekday(d)) {
        case absl::Weekday::sunday: return 0;
        case absl::Weekday::monday: return 1;
        case absl::Weekday::tuesday: return 2;
        case absl::Weekday::wednesday: return 3;
        case absl::Weekday::thursday: return 4;
        case absl::Weekday::friday: return 5;
        case absl::Weekday::saturday: return 6;
      }
      return 0;
    };
    if (!inside || !w.days[static_cast<size_t>(weekday(day))]) {
      return absl::StrCat("outside the window ", w.Describe(), " (",
                          absl::FormatTime("%a %H:%M", t, w.zone), " local)");
    }
  }
  return "";
}

}  // namespace faultline::controller
