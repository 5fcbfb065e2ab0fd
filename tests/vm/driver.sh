#!/bin/sh
# In-VM driver of scripts/netem-vm (busybox sh, run by tests/vm/init).
#
# Two network namespaces joined by one veth pair:
#   snd  veth0  198.18.0.1/24       (the agent runs here; faults go on veth0)
#   rcv  veth0p 198.18.0.2/24 and 198.18.0.3/24 (two destinations, same link)
# Each case injects a netem fault on snd's veth0 egress, measures ping RTT or
# loss from snd while the fault is active, waits for the fault to end, and
# checks that veth0's qdiscs and snd's links are exactly as before.
#
# Mode (kernel command line faultline.mode=): "agent" injects through the real
# faultline-agent (unix socket) driven by `faultline run` with a one-step
# experiment; "smoke" runs the same cases with plain `tc qdisc add ... netem`.
#
# Output, one line per check (parsed by scripts/netem-vm):
#   RESULT case=NAME requested=X measured=Y expected=Z verdict=PASS|FAIL|INFO
# Values never contain spaces. INFO rows are precision figures, not checks.
IP=/usr/sbin/ip
TC=/usr/sbin/tc
MODE=$(sed -n 's/.*faultline\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
[ -n "$MODE" ] || MODE=agent
# faultline.cases=delay,loss runs only those cases (default: all).
CASES=$(sed -n 's/.*faultline\.cases=\([a-z0-9,]*\).*/\1/p' /proc/cmdline)
[ -n "$CASES" ] || CASES=delay,loss,filtered,precision
SOCK=/run/faultline/agent.sock
FAILED=0

snd() { $IP netns exec snd "$@"; }
rcv() { $IP netns exec rcv "$@"; }

result() {  # case requested measured expected verdict
  echo "RESULT case=$1 requested=$2 measured=$3 expected=$4 verdict=$5"
  [ "$5" = FAIL ] && FAILED=$((FAILED + 1))
  return 0
}

# pingstats DEST COUNT INTERVAL [STREAMS] -> "sent received median_ms sd_ms
# mean_ms" over the per-packet RTTs of STREAMS parallel pings of COUNT each.
# The median is the delay figure: under TCG a busy host stretches a few RTTs,
# which moves the mean but not the median.
pingstats() {
  streams=${4:-1}
  out=/tmp/ping.$$.$1
  k=0
  pids=""
  while [ $k -lt "$streams" ]; do
    snd ping -c "$2" -i "$3" -W 2 -s 16 "$1" >"$out.$k" 2>/dev/null &
    pids="$pids $!"
    k=$((k + 1))
  done
  wait $pids
  cat "$out".* | sed -n 's/.*time=\([0-9.]*\).*/\1/p' | sort -n >"$out.rtt"
  sent=$(cat "$out".[0-9]* | awk '/packets transmitted/ { s += $1 } END { print s + 0 }')
  # busybox awk has no sqrt(): Newton's method.
  awk -v sent="$sent" '
    function root(x, r, i) { if (x <= 0) return 0; r = x; for (i = 0; i < 100; i++) r = (r + x / r) / 2; return r }
    { v[NR] = $1; s += $1; q += $1 * $1 }
    END { n = NR; m = n ? s / n : 0; var = n > 1 ? (q - n * m * m) / (n - 1) : 0
          med = n ? (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) : 0
          printf "%d %d %.2f %.2f %.2f\n", sent, n, med, root(var), m }' "$out.rtt"
  rm -f "$out".*
}

state() {  # what revert must restore: veth0's qdiscs and snd's links
  snd $TC qdisc show dev veth0
  snd $IP -o link show | sed 's/^[0-9]*: \([^:@]*\).*/\1/'
}

setup() {
  $IP netns add snd && $IP netns add rcv || return 1
  $IP link add veth0 netns snd type veth peer name veth0p netns rcv || return 1
  snd $IP link set lo up
  snd $IP addr add 198.18.0.1/24 dev veth0
  snd $IP link set veth0 up
  rcv $IP link set lo up
  rcv $IP addr add 198.18.0.2/24 dev veth0p
  rcv $IP addr add 198.18.0.3/24 dev veth0p
  rcv $IP link set veth0p up
  snd ping -c 1 -W 5 198.18.0.2 >/dev/null && snd ping -c 1 -W 5 198.18.0.3 >/dev/null
}

start_agent() {
  mkdir -p /run/faultline
  snd /usr/bin/faultline-agent --listen "unix:$SOCK" --state-dir /run/faultline/state \
    --ready-file /run/faultline/ready --log-level info >/tmp/agent.log 2>&1 &
  AGENT_PID=$!
  i=0
  while [ ! -s /run/faultline/ready ] && [ $i -lt 300 ]; do
    kill -0 $AGENT_PID 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
  done
  if [ ! -s /run/faultline/ready ]; then
    echo "FAIL agent did not become ready; its log:"
    sed 's/^/FAIL   agent: /' /tmp/agent.log | tail -n 20
    return 1
  fi
  echo "INFO agent ready after $((i * 100)) ms at $(cat /run/faultline/ready)"
  sed 's/^/INFO   agent: /' /tmp/agent.log | cut -c1-400 | head -n 12
}

# A run is one `faultline run` (agent mode) of an experiment whose method has
# one or more fault steps on veth0; each step is a phase the driver waits for
# (by the netem parameters `tc qdisc show` prints), measures, and checks was
# still in place when the measurement ended. Smoke mode replaces each phase's
# fault with plain tc commands.

# step KIND PARAMS DURATION -> one method entry.
step() { echo "  - {fault: $1, target: vm, params: {interface: veth0, $2}, duration: $3}"; }

# start_run NAME METHOD_LINES (agent mode; no-op in smoke mode).
start_run() {
  RUN=$1
  [ "$MODE" = agent ] || return 0
  cat >/tmp/$1.yaml <<YAML
apiVersion: faultline/v1
kind: Experiment
metadata: {name: vm-$1, owner: netem-vm, description: "netem VM run $1"}
targets:
  vm: {agents: ["unix:$SOCK"]}
method:
$2
YAML
  /usr/bin/faultline run /tmp/$1.yaml --journal /tmp/journal.db >/tmp/$1.log 2>&1 &
  RUN_PID=$!
}

qdiscs() { snd $TC qdisc show dev veth0 | tr '\n' ';'; }

# phase NAME PATTERN TC_COMMANDS: smoke mode runs the tc commands (after
# removing the previous phase's root qdisc); both modes then wait up to 20 s
# until veth0's qdiscs match PATTERN (grep -E). Returns 1 if they never do.
phase() {
  PHASE=$1
  PATTERN=$2
  if [ "$MODE" = smoke ]; then
    snd $TC qdisc del dev veth0 root 2>/dev/null
    echo "$3" | while read -r cmd; do [ -n "$cmd" ] && snd $TC $cmd; done
  fi
  i=0
  while ! qdiscs | grep -Eq "$PATTERN" && [ $i -lt 200 ]; do
    if [ "$MODE" = agent ] && ! kill -0 $RUN_PID 2>/dev/null; then break; fi
    sleep 0.1
    i=$((i + 1))
  done
  if ! qdiscs | grep -Eq "$PATTERN"; then
    result "$1" "-" "not_applied" "netem_in_place" FAIL
    echo "FAIL   qdiscs: $(qdiscs)"
    return 1
  fi
  echo "INFO $(uptime_s) $1: in place after ~$((i * 100)) ms: $(qdiscs)"
}

# measured: the phase's fault must still be in place, or the figures mix
# fault and no fault.
measured() {
  echo "INFO $(uptime_s) $PHASE: measured"
  if ! qdiscs | grep -Eq "$PATTERN"; then
    result "${PHASE}_window" "-" "fault_ended_while_measuring" "fault_in_place" FAIL
    echo "FAIL   qdiscs: $(qdiscs)"
  fi
}

# end_run: waits for the run (agent; it must exit 0) or removes the qdisc
# (smoke), then checks veth0's qdiscs and snd's links are exactly as before.
end_run() {
  if [ "$MODE" = agent ]; then
    wait $RUN_PID
    rc=$?
    grep -E 'fault\.(applied|reverted|failed)|run\.finished' /tmp/$RUN.log | cut -c1-300 |
      sed 's/^/INFO   run: /'
    if [ $rc -ne 0 ]; then
      result "${RUN}_run" "exit_0" "exit_$rc" "exit_0" FAIL
      sed 's/^/FAIL   run: /' /tmp/$RUN.log | tail -n 15
    fi
  else
    snd $TC qdisc del dev veth0 root 2>/dev/null
  fi
  after=$(state)
  if [ "$after" = "$BEFORE" ]; then
    result "${RUN}_revert" "clean" "clean" "same_qdiscs_and_links" PASS
  else
    result "${RUN}_revert" "clean" "left_state" "same_qdiscs_and_links" FAIL
    echo "$after" | sed 's/^/FAIL   after: /'
    echo "$BEFORE" | sed 's/^/FAIL   before: /'
  fi
}

uptime_s() { cut -d' ' -f1 /proc/uptime; }

within() {  # value low high -> PASS/FAIL
  awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { print (v >= lo && v <= hi) ? "PASS" : "FAIL" }'
}
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }

# --- cases ---------------------------------------------------------------------

case_delay() {  # delay 100ms: RTT +100 ms +-5%
  start_run delay "$(step network.delay "delay: 100ms" 8s)"
  if phase delay "netem .*delay 100ms" "qdisc add dev veth0 root netem delay 100ms"; then
    set -- $(pingstats 198.18.0.2 20 0.05)
    measured
    added=$(calc "$3 - $BASE2")
    result delay_100ms 100ms "+${added}ms_(mean_+$(calc "$5 - $BASE2"))" "95..105ms" \
      "$(within "$added" 95 105)"
  fi
  end_run
}

case_loss() {  # loss 10% over 800 pings (4 streams): 10 +- 4 %
  start_run loss "$(step network.loss "percent: 10" 10s)"
  if phase loss "netem .*loss 10%" "qdisc add dev veth0 root netem loss 10%"; then
    set -- $(pingstats 198.18.0.2 200 0.005 4)
    measured
    lost=$(calc "100 * ($1 - $2) / $1")
    result loss_10pct "10%" "${lost}%_of_$1" "6..14%" "$(within "$lost" 6 14)"
  fi
  end_run
}

case_filtered() {  # delay to 198.18.0.2 only; 198.18.0.3 on the same link stays at baseline
  start_run filtered "$(step network.delay "delay: 100ms, destinations: [198.18.0.2/32]" 8s)"
  if phase filtered "htb .*netem .*delay 100ms" \
    "qdisc add dev veth0 root handle 1: htb default 1
class add dev veth0 parent 1: classid 1:1 htb rate 10gbit
class add dev veth0 parent 1: classid 1:2 htb rate 10gbit
qdisc add dev veth0 parent 1:2 handle 20: netem delay 100ms
filter add dev veth0 parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.2/32 flowid 1:2"; then
    pingstats 198.18.0.3 20 0.05 >/tmp/other &
    other_pid=$!
    set -- $(pingstats 198.18.0.2 20 0.05)
    wait $other_pid
    measured
    added=$(calc "$3 - $BASE2")
    result filtered_target 100ms_to_.2 "+${added}ms" "95..105ms" "$(within "$added" 95 105)"
    set -- $(cat /tmp/other)
    other=$(calc "$3 - $BASE3")
    result filtered_other none_to_.3 "+${other}ms_(${3}ms)" "<5ms_added" "$(within "$other" -5 5)"
  fi
  end_run
}

# Precision figures (INFO rows), one run with three steps: 50ms +- 10ms
# uniform (sd 10/sqrt(3) = 5.77 ms), 10ms, loss 30%.
case_precision() {
  start_run precision "$(step network.delay "delay: 50ms, jitter: 10ms" 6s)
  - {wait: 1s}
$(step network.delay "delay: 10ms" 6s)
  - {wait: 1s}
$(step network.loss "percent: 30" 10s)"
  if phase jitter "netem .*delay 50ms +10ms" "qdisc add dev veth0 root netem delay 50ms 10ms"; then
    set -- $(pingstats 198.18.0.2 50 0.02 2)
    measured
    result jitter_50ms 50ms "+$(calc "$3 - $BASE2")ms" "~50ms" INFO
    result jitter_spread "10ms_uniform" "sd_${4}ms" "sd~5.77ms" INFO
  fi
  if phase delay10 "netem .*delay 10ms;" "qdisc add dev veth0 root netem delay 10ms"; then
    set -- $(pingstats 198.18.0.2 20 0.03)
    measured
    result delay_10ms 10ms "+$(calc "$3 - $BASE2")ms" "~10ms" INFO
  fi
  if phase loss30 "netem .*loss 30%" "qdisc add dev veth0 root netem loss 30%"; then
    set -- $(pingstats 198.18.0.2 100 0.005 4)
    measured
    result loss_30pct "30%" "$(calc "100 * ($1 - $2) / $1")%_of_$1" "~30%" INFO
  fi
  end_run
}

# --- main ------------------------------------------------------------------------
T0=$(cut -d' ' -f1 /proc/uptime)
echo "INFO mode=$MODE kernel=$(uname -r) uptime_at_driver=${T0}s"
if ! setup; then
  echo "FAIL namespace setup failed"
  exit 1
fi
if [ "$MODE" = agent ]; then start_agent || exit 1; fi
BEFORE=$(state)
pingstats 198.18.0.3 30 0.02 >/tmp/base3 &
base3_pid=$!
set -- $(pingstats 198.18.0.2 30 0.02)
BASE2=$3
wait $base3_pid
set -- $(cat /tmp/base3)
BASE3=$3
result baseline none "median_${BASE2}ms_${BASE3}ms" "-" INFO

for c in $(echo "$CASES" | tr ',' ' '); do
  case $c in
    delay) case_delay ;;
    loss) case_loss ;;
    filtered) case_filtered ;;
    precision) case_precision ;;
    *) result "$c" - unknown_case - FAIL ;;
  esac
done

if [ "$MODE" = agent ]; then
  kill $AGENT_PID 2>/dev/null
  wait $AGENT_PID
  final=$(state)
  if [ "$final" = "$BEFORE" ]; then
    result agent_exit clean clean same_qdiscs_and_links PASS
  else
    result agent_exit clean left_state same_qdiscs_and_links FAIL
  fi
fi
echo "INFO driver took $(awk -v t0="$T0" '{ printf "%.1f", $1 - t0 }' /proc/uptime)s, $FAILED failed"
[ "$FAILED" -eq 0 ]
