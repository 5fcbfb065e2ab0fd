#!/usr/bin/env bash
# CPU load accuracy: faultline-stressor vs stress-ng --cpu 1 --cpu-load N, side
# by side, on an idle machine and with the other core busy. The load is
# measured from /proc/PID/stat (utime+stime of the whole process) over a
# window after a warm-up. Usage: bench/cpu_accuracy.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
bin=${1:-build}/bin
window=${2:-5}
hz=$(getconf CLK_TCK)

ticks() { awk '{sub(/.*\) /,""); print $12+$13}' "/proc/$1/stat"; }

# measure PID: prints the load in % of one core over $window seconds.
measure() {
  local pid=$1 t0 t1 s0 s1
  sleep 1
  t0=$(ticks "$pid"); s0=$(date +%s.%N)
  sleep "$window"
  t1=$(ticks "$pid"); s1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$hz" \
    'BEGIN { printf "%.1f", (b-a)/hz/(e-s)*100 }'
}

run_case() {
  local load=$1 ours theirs pid
  "$bin/faultline-stressor" cpu --load "$load" --workers 1 --log-level warn & pid=$!
  ours=$(measure "$pid"); kill "$pid"; wait "$pid" 2>/dev/null || true
  stress-ng --cpu 1 --cpu-load "$load" --quiet & pid=$!
  sleep 0.3
  # stress-ng forks a worker; measure the busy child, not the supervisor.
  local child; child=$(pgrep -P "$pid" | head -1)
  theirs=$(measure "${child:-$pid}"); kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v n="$load" -v o="$ours" -v t="$theirs" 'BEGIN {
    d1=o-n; if (d1<0) d1=-d1; d2=t-n; if (d2<0) d2=-d2;
    printf "| %3d%% | %6.1f | %5.1f | %6.1f | %5.1f |\n", n, o, d1, t, d2 }'
}

table() {
  echo "| load | faultline | error | stress-ng | error |"
  echo "| ---: | ---: | ---: | ---: | ---: |"
  for load in 25 50 75 90; do run_case "$load"; done
}

echo "### idle machine ($(nproc) cores, ${window}s window)"
table
echo
echo "### other core busy (a spinning shell loop)"
sh -c 'while :; do :; done' & busy=$!
trap 'kill $busy 2>/dev/null || true' EXIT
table
