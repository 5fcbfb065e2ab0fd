#!/usr/bin/env bash
# Runs every benchmark driver against build/ and prints the tables quoted in
# the README. Needs root (stressors, cgroups) and a quiet machine: the CPU
# figures are only meaningful when nothing else competes for the cores.
# Usage: bench/run.sh [BUILD_DIR]   (takes about 4 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
echo "## machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME")"
echo
echo "## apply-to-active latency"
"$build/bin/faultline-bench-apply" 200
echo
echo "## cpu.pressure accuracy vs stress-ng"
bench/cpu_accuracy.sh "$build" 5
echo
echo "## agent idle footprint"
bench/agent_footprint.sh "$build" 60
echo
echo "## fan-out to a fleet (10, 50, 200 agents on loopback) and halt"
"$build/bin/faultline-bench-fanout" 10,50,200 10
