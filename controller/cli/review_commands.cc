#include "controller/cli/review_commands.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/program_options.hpp"
#include "common/unix_time.h"
#include "controller/cli/cli_common.h"
#include "controller/report/report.h"
#include "controller/run/runner.h"
#include "controller/store/journal_store.h"

namespace po = boost::program_options;

namespace faultline::controller {
namespace {

// Opens the journal the flags name and marks dead runs interrupted; prints
// the problem and returns null when it cannot be opened.
std::unique_ptr<JournalStore> OpenForReview(const CommonFlags& common) {
  auto store = OpenJournal(common);
  if (!store.ok()) {
    std::cerr << "faultline: " << store.status().message() << "\n";
    return nullptr;
  }
  (void)(*store)->MarkInterrupted();
  return std::move(*store);
}

// Looks a run up and reads its events; prints the problem and returns the
// exit code on failure.
int LoadRun(JournalStore& store, const std::string& id, RunRecord* run, std::vector<Event>* events) {
  auto found = store.GetRun(id);
  if (!found.ok()) {
    std::cerr << "faultline: " << found.status().message() << "\n";
    return kExitInvalid;
  }
  auto read = store.Events(found->run_id);
  if (!read.ok()) {
    std::cerr << "faultline: " << read.status().message() << "\n";
    return kExitAborted;
  }
  *run = std::move(*found);
  *events = std::move(*read);
  return 0;
}

int Emit(const std::string& text, const std::string& out) {
  if (out.empty()) {
    std::cout << text;
    return 0;
  }
  std::ofstream file(out);
  file << text;
  file.close();
  if (!file) {
    std::cerr << "faultline: cannot write " << out << "\n";
    return kExitAborted;
  }
  return 0;
}

// `show` and `report`: render one run.
int Render(const std::vector<std::string>& args, bool report) {
  CommonFlags common;
  std::string run_id, format = "md", out;
  po::options_description options = CommonOptions(&common);
  options.add_options()("run", po::value(&run_id), "run id or unique prefix");
  if (report) {
    options.add_options()
        ("format", po::value(&format)->default_value("md"), "md|html|json|junit")
        ("postmortem", "a blameless post-mortem draft (Markdown) instead of the report")
        ("out,o", po::value(&out), "write to this file instead of stdout");
  }
  po::positional_options_description positional;
  positional.add("run", 1);
  po::variables_map vm;
  if (!ParseArgs(args, options, positional, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help") || run_id.empty()) {
    std::cout << (report ? "usage: faultline report RUN [--format md|html|json|junit] "
                           "[--postmortem] [--out FILE]\n"
                         : "usage: faultline show RUN\n")
              << options;
    return run_id.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  const bool postmortem = report && vm.count("postmortem") > 0;
  std::optional<ReportFormat> parsed;
  if (report) {
    auto f = ParseReportFormat(format);
    if (!f.ok()) {
      std::cerr << "faultline: " << f.status().message() << "\n";
      return kExitInvalid;
    }
    parsed = *f;
    if (postmortem && !vm["format"].defaulted() && *parsed != ReportFormat::kMarkdown) {
      std::cerr << "faultline: --postmortem writes Markdown; --format " << format
                << " is ignored\n";
    }
  }
  std::unique_ptr<JournalStore> store = OpenForReview(common);
  if (store == nullptr) return kExitAborted;
  RunRecord run;
  std::vector<Event> events;
  if (int code = LoadRun(*store, run_id, &run, &events); code != 0) return code;
  std::string text = postmortem ? RenderPostmortem(run, events)
                     : report   ? RenderReport(*parsed, run, events)
                                : RenderTimeline(run, events);
  return Emit(text, out);
}

bool IsDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

absl::StatusOr<int64_t> ParseSince(const std::string& text, int64_t now_unix_ms) {
  const std::string kForms =
      "want a span back from now (90s, 30m, 24h, 7d, 2w) or a UTC date or date-time "
      "(2026-11-20, 2026-11-20T14:00, 2026-11-20T14:00:05)";
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--since \"", text, "\"", why.empty() ? "" : ": " + why, ": ", kForms));
  };
  if (text.size() >= 2 && IsDigits(text.substr(0, text.size() - 1))) {
    int64_t unit_ms = 0;
    switch (text.back()) {
      case 's': unit_ms = 1000; break;
      case 'm': unit_ms = 60'000; break;
      case 'h': unit_ms = 3'600'000; break;
      case 'd': unit_ms = 86'400'000; break;
      case 'w': unit_ms = 7 * 86'400'000LL; break;
      default: return bad("unknown unit");
    }
    std::string digits = text.substr(0, text.size() - 1);
    if (digits.size() > 9) return bad("too far back");
    int64_t n = std::stoll(digits);
    if (n <= 0) return bad("must be positive");
    return now_unix_ms - n * unit_ms;
  }
  std::string s = text;
  if (!s.empty() && (s.back() == 'Z' || s.back() == 'z')) s.pop_back();
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char sep = 0;
  int consumed = 0;
  bool parsed = false;
  if (s.size() == 10) {
    parsed = std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &consumed) == 3;
  } else if (s.size() == 16) {
    parsed = std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d%n", &year, &month, &day, &sep, &hour,
                         &minute, &consumed) == 6;
  } else if (s.size() == 19) {
    parsed = std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &year, &month, &day, &sep, &hour,
                         &minute, &second, &consumed) == 7;
  }
  // sscanf's %d accepts signs and spaces: insist on digits where they belong.
  bool shape = parsed && consumed == static_cast<int>(s.size()) && s[4] == '-' && s[7] == '-';
  for (size_t i = 0; shape && i < s.size(); ++i) {
    bool digit_position = i != 4 && i != 7 && i != 10 && i != 13 && i != 16;
    if (digit_position && !(s[i] >= '0' && s[i] <= '9')) shape = false;
  }
  if (shape && s.size() > 10 && sep != 'T' && sep != 't' && sep != ' ') shape = false;
  if (shape && s.size() > 10 && s[13] != ':') shape = false;
  if (shape && s.size() > 16 && s[16] != ':') shape = false;
  if (!shape) return bad("");
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::tm check = tm;
  time_t secs = timegm(&tm);
  // timegm normalizes 2026-02-30 to March 2: such dates do not exist.
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 ||
      tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon) {
    return bad("no such date or time");
  }
  return static_cast<int64_t>(secs) * 1000;
}

absl::StatusOr<std::map<std::string, std::string>> ParseTags(const std::vector<std::string>& tags) {
  std::map<std::string, std::string> out;
  for (const std::string& tag : tags) {
    size_t eq = tag.find('=');
    std::string key = tag.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : tag.substr(eq + 1);
    if (key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tag \"", tag, "\": want key=value (label equals) or key (label present)"));
    }
    if (eq != std::string::npos && value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tag \"", tag, "\": empty value; write --tag ", key, " to match any value"));
    }
    auto [it, inserted] = out.emplace(key, value);
    if (!inserted && it->second != value) {
      return absl::InvalidArgumentError(absl::StrCat("--tag ", key, " given twice with different values (\"",
                                                     it->second, "\" and \"", value, "\")"));
    }
  }
  return out;
}

int RunsCommand(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string experiment, since, status;
  std::vector<std::string> tags;
  int limit = 50;
  po::options_description options = CommonOptions(&common);
  options.add_options()
      ("experiment", po::value(&experiment), "only runs of this experiment (metadata.name)")
      ("since", po::value(&since), "only runs started since: 24h, 7d, 2026-11-20, 2026-11-20T14:00 (UTC)")
      ("status", po::value(&status),
       "only runs with this status: running|passed|deviated|aborted|failed|interrupted|skipped")
      ("tag", po::value(&tags)->composing(),
       "only runs labelled key=value (or having key); repeat to require several")
      ("limit", po::value(&limit)->default_value(50), "at most this many runs (0: all)");
  po::variables_map vm;
  if (!ParseArgs(args, options, {}, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help")) {
    std::cout << "usage: faultline runs [--experiment NAME] [--since WHEN] [--status STATUS] "
                 "[--tag KEY[=VALUE]]... [--limit N]\n"
              << options;
    return 0;
  }
  RunFilter filter;
  filter.experiment = experiment;
  if (limit < 0) {
    std::cerr << "faultline: --limit " << limit << ": want 0 (all) or a positive number\n";
    return kExitInvalid;
  }
  filter.limit = limit;
  if (!since.empty() || vm.count("since")) {
    auto parsed = ParseSince(since, NowUnixMs());
    if (!parsed.ok()) {
      std::cerr << "faultline: " << parsed.status().message() << "\n";
      return kExitInvalid;
    }
    filter.since_unix_ms = *parsed;
  }
  if (vm.count("status")) {
    auto parsed = ParseRunStatus(status);
    if (!parsed.ok()) {
      std::cerr << "faultline: --status: " << parsed.status().message() << "\n";
      return kExitInvalid;
    }
    filter.status = *parsed;
  }
  auto labels = ParseTags(tags);
  if (!labels.ok()) {
    std::cerr << "faultline: " << labels.status().message() << "\n";
    return kExitInvalid;
  }
  filter.labels = *labels;
  std::unique_ptr<JournalStore> store = OpenForReview(common);
  if (store == nullptr) return kExitAborted;
  auto runs = store->ListRuns(filter);
  if (!runs.ok()) {
    std::cerr << "faultline: " << runs.status().message() << "\n";
    return kExitAborted;
  }
  std::cout << RenderRunsTable(*runs);
  return 0;
}

int ShowCommand(const std::vector<std::string>& args) { return Render(args, /*report=*/false); }

int ReportCommand(const std::vector<std::string>& args) { return Render(args, /*report=*/true); }

int CompareCommand(const std::vector<std::string>& args) {
  CommonFlags common;
  std::vector<std::string> ids;
  std::string format = "text", out;
  po::options_description options = CommonOptions(&common);
  options.add_options()
      ("runs", po::value(&ids), "RUN_A RUN_B")
      ("format", po::value(&format)->default_value("text"), "text|md|json")
      ("out,o", po::value(&out), "write to this file instead of stdout");
  po::positional_options_description positional;
  positional.add("runs", 2);
  po::variables_map vm;
  if (!ParseArgs(args, options, positional, &vm) || !InitLogs(common)) return kExitInvalid;
  constexpr char kCompareUsage[] =
      "usage: faultline compare RUN_A RUN_B [--format text|md|json] [--out FILE]\n";
  if (vm.count("help")) {
    std::cout << kCompareUsage << options;
    return 0;
  }
  if (ids.size() != 2) {
    std::cerr << "faultline: compare needs two runs, got " << ids.size() << "\n" << kCompareUsage;
    return kExitInvalid;
  }
  auto parsed = ParseCompareFormat(format);
  if (!parsed.ok()) {
    std::cerr << "faultline: " << parsed.status().message() << "\n";
    return kExitInvalid;
  }
  std::unique_ptr<JournalStore> store = OpenForReview(common);
  if (store == nullptr) return kExitAborted;
  RunRecord a, b;
  std::vector<Event> a_events, b_events;
  if (int code = LoadRun(*store, ids[0], &a, &a_events); code != 0) return code;
  if (int code = LoadRun(*store, ids[1], &b, &b_events); code != 0) return code;
  if (a.experiment != b.experiment) {
    std::cerr << "faultline: warning: comparing runs of different experiments (" << a.experiment
              << " and " << b.experiment << ")\n";
  }
  return Emit(RenderComparison(*parsed, a, a_events, b, b_events), out);
}

}  // namespace faultline::controller
