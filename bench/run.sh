#!/usr/bin/env bash
# Runs every benchmark driver against build/ and prints the tables quoted in
# the README. Needs root (stressors, cgroups) and a quiet machine: the CPU
# figures are only meaningful when nothing else competes for the cores.
# Usage: bench/run.sh [BUILD_DIR]   (takes about 10 minutes)
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
echo "## journal throughput (events/s)"
"$build/bin/faultline-bench-journal" --benchmark_min_time=1
echo
echo "## controller overhead per probe evaluation"
"$build/bin/faultline-bench-probes" --benchmark_min_time=1
echo
echo "## fan-out to a fleet (10, 50, 200 agents on loopback) and halt"
"$build/bin/faultline-bench-fanout" 10,50,200 10
echo
# Network engines in a netns lab (about 3 minutes); FAULTLINE_BENCH_VM=1 adds
# the netem rows from scripts/netem-vm (needs /var/cache/faultline-vm, +1-2 min).
echo "## network engines: precision, requested vs measured"
"$build/bin/faultline-bench-net-precision" ${FAULTLINE_BENCH_VM:+--vm}
echo
echo "## network faults: apply-to-effective and revert-to-clean latency (agent gRPC)"
"$build/bin/faultline-bench-net-latency" --iterations=100
echo
echo "## NFQUEUE delay engine saturation"
"$build/bin/faultline-bench-net-queue" 2
