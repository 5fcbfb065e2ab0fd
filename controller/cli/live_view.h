// LiveView: what `faultline run` shows in a terminal while a game day runs --
// the current step and its time left, the faults active on each host (kind,
// engine, parameters, time left), the latest result of each probe, gate and
// abort state, drill marks, the notes typed so far, and how to stop.
//
//   Runner event callback ─► LiveView::OnEvent ─► state
//   redraw timer / new event ─► LiveView::Render(now) ─► lines ─► terminal
//
// A pure state machine: no I/O and no clock of its own (Render takes "now"),
// so frames are tested from synthetic events. Drawing the frame in place
// (ANSI) is run_command.cc's job. Thread-safe: OnEvent, NoteAdded and Render
// may be called from different threads.
#ifndef FAULTLINE_CONTROLLER_CLI_LIVE_VIEW_H_
#define FAULTLINE_CONTROLLER_CLI_LIVE_VIEW_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "controller/spec/experiment.h"
#include "controller/store/journal_store.h"

namespace faultline::controller {

// Planned length of every method step by its path ("3", "3.2", as the Runner
// journals them): fault/wait its duration, pause its timeout, serial the sum
// and parallel the longest of its children.
std::map<std::string, std::chrono::milliseconds> StepDurations(const std::vector<Step>& method);

// "0:42", "12:05", "1:02:03"; negative values are shown as 0:00.
std::string FormatClock(int64_t ms);

struct LiveViewOptions {
  // Planned step lengths (StepDurations); steps not listed show no time left.
  std::map<std::string, std::chrono::milliseconds> step_durations;
  // Typed lines become notes (stdin is a terminal): said in the last line.
  bool notes_from_terminal = false;
  size_t max_probes = 8;  // probe lines shown (the rest are counted)
};

class LiveView {
 public:
  explicit LiveView(LiveViewOptions options);

  void OnEvent(const Event& event);
  // A note typed into the terminal (journaled by the caller).
  void NoteAdded(const std::string& author, const std::string& text);

  // The frame at `now_unix_ms`, one string per line, each at most `width`
  // columns (0 = no limit) and ASCII apart from what events carry (names,
  // messages).
  std::vector<std::string> Render(int64_t now_unix_ms, size_t width = 0) const;

  // run.finished has been seen.
  bool finished() const;

 private:
  struct Fault {
    std::string kind, engine, summary;
    int64_t applied_ms = 0;
    int64_t duration_ms = 0;
  };
  struct ProbeState {
    bool ok = false;
    double latency_ms = 0;
    std::string phase, detail;
    int consecutive_failures = 0;
  };

  const LiveViewOptions options_;
  mutable std::mutex mu_;
  std::string experiment_, run_id_, phase_ = "starting";
  int64_t started_ms_ = 0;
  int64_t planned_ms_ = 0;
  int top_steps_ = 0;
  std::string step_path_, step_label_, step_kind_;  // current top-level step
  int64_t step_started_ms_ = 0;
  std::string sub_path_, sub_label_;  // latest nested step, when inside one
  std::map<std::string, std::map<std::string, Fault>> faults_;  // host -> fault id -> fault
  std::map<std::string, ProbeState> probes_;
  std::string gate_;  // "" when no gate is open
  int64_t gate_deadline_ms_ = 0;
  std::string abort_;  // abort line, once aborted
  std::string last_failure_;
  std::vector<std::string> drill_;
  int notes_ = 0;
  std::string last_note_;
  std::string finished_;
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_CLI_LIVE_VIEW_H_
