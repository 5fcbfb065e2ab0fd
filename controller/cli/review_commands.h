// The review commands of the `faultline` CLI, reading the local journal
// (controller/store) and rendering with controller/report:
//
//   runs [--experiment NAME] [--since WHEN] [--status S] [--tag k=v|k]...
//        [--limit N]      recorded runs, newest first, filtered
//   show RUN             a run's timeline in the terminal
//   report RUN [--format md|html|json|junit] [--postmortem] [--out FILE]
//                        a report; --postmortem: the blameless post-mortem
//                        draft (Markdown whatever --format says)
//   compare A B [--format text|md|json]
//                        two runs side by side with deltas
//
// Each function takes the arguments after the command name and returns the
// exit code: 0 success, 2 usage error or unknown run, 3 journal unreadable or
// output not writable.
#ifndef FAULTLINE_CONTROLLER_CLI_REVIEW_COMMANDS_H_
#define FAULTLINE_CONTROLLER_CLI_REVIEW_COMMANDS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace faultline::controller {

int RunsCommand(const std::vector<std::string>& args);
int ShowCommand(const std::vector<std::string>& args);
int ReportCommand(const std::vector<std::string>& args);
int CompareCommand(const std::vector<std::string>& args);

// `runs --since`: a span back from `now_unix_ms` ("90s", "30m", "24h", "7d",
// "2w"; a positive whole number and one unit) or a UTC date / date-time
// ("2026-11-20", "2026-11-20T14:00", "2026-11-20T14:00:05", a trailing "Z"
// or a space instead of "T" accepted). Returns unix ms. InvalidArgument
// naming the accepted forms otherwise (also for impossible dates). Pure.
absl::StatusOr<int64_t> ParseSince(const std::string& text, int64_t now_unix_ms);

// `runs --tag` values: "key=value" (label equals value) or "key" (label
// present), merged into one map. InvalidArgument for an empty key, or for
// one key given twice with different values. Pure.
absl::StatusOr<std::map<std::string, std::string>> ParseTags(const std::vector<std::string>& tags);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_CLI_REVIEW_COMMANDS_H_
