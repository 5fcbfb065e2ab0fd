#!/usr/bin/env bash
# Idle footprint of faultline-agent: RSS after start and CPU over a window
# with no faults. Usage: bench/agent_footprint.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
bin=${1:-build}/bin
window=${2:-60}
hz=$(getconf CLK_TCK)
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin/faultline-agent" --listen 127.0.0.1:0 --state-dir "$dir" --ready-file "$dir/ready" \
  --log-level warn & pid=$!
for _ in $(seq 100); do [ -s "$dir/ready" ] && break; sleep 0.05; done
sleep 2
ticks() { awk '{sub(/.*\) /,""); print $12+$13}' "/proc/$pid/stat"; }
t0=$(ticks)
sleep "$window"
t1=$(ticks)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
echo "| metric | value |"
echo "| --- | ---: |"
echo "| idle RSS | $((rss_kb / 1024)) MiB ($rss_kb KiB) |"
awk -v a="$t0" -v b="$t1" -v hz="$hz" -v w="$window" \
  'BEGIN { printf "| idle CPU over %ds | %.3f%% of one core |\n", w, (b-a)/hz/w*100 }'
