#!/bin/sh
# In-VM driver of scripts/netem-vm (busybox sh, run by tests/vm/init).
#
# One veth pair per case, so that the faults of all cases are in place at
# the same time without sharing a qdisc:
#   snd   <dev>  198.18.N.1/24  (the agent runs here; the fault goes on <dev>)
#   peer  <dev>  198.18.N.2/24  (the filtered case adds 198.18.3.3)
# Each case pings snd from the peer side, so its fault (egress of snd's
# <dev>) acts on the echo replies. The peers of the counting cases (loss,
# loss30, duplicate) each have their own namespace r-CASE, since their
# figures are its ICMP counters and busybox ping's raw socket sees every
# ICMP packet of its namespace; the others share r-rtt and are measured one
# at a time.
#
#   case       dev       N  fault                                checked
#   delay      nm-delay  1  delay 100ms                          RTT +100 ms +-5%
#   loss       nm-loss   2  loss 10%                             10 +-4 % of 600 pings
#   filtered   nm-filt   3  delay 100ms to 198.18.3.2/32 only    .2 +100 ms +-5%, .3 +-5 ms
#   jitter     nm-jit    4  delay 50ms jitter 10ms (uniform)     median +50 +-5 ms, IQR 6..14 ms
#   delay10    nm-d10    5  delay 10ms                           figure only
#   loss30     nm-l30    6  loss 30%                             figure only
#   duplicate  nm-dup    7  duplicate 10%                        figure only
#   expiry     nm-exp    9  delay 100ms for 3 s                  reverted by its duration
#   (baseline) nm-base  10  none                                 baseline RTT
#
# Order (agent mode, kernel command line faultline.mode=agent):
#  1. detect: the agent starts on a kernel without nfnetlink (the image
#     carries no nf_* module) and must report netem available and
#     nftables/nfqueue unavailable with a reason, in its start log and
#     through Capabilities (`faultline plan`).
#  2. one `faultline run` of an experiment whose method is one parallel block
#     with every case's fault. All but "expiry" last 2 minutes, far longer
#     than the measurement: the driver waits until every netem qdisc is in
#     place, measures all cases at once, checks the qdiscs were still there
#     when the last measurement ended, then stops the run with SIGTERM (what
#     Ctrl-C does): it must revert everything and exit 3. "expiry" ends by
#     its own 3 s duration while the run goes on (the normal revert path).
#  3. after the run and after the agent exits: snd's qdiscs and links are
#     exactly as before.
# Mode "smoke" applies the same faults with plain `tc qdisc add` (no agent).
#
# Output, one line per check (parsed by scripts/netem-vm):
#   RESULT case=NAME requested=X measured=Y expected=Z verdict=PASS|FAIL|INFO
# Values never contain spaces. INFO rows are figures, not checks. Every
# measured figure is also printed as
#   PRECISION fault|requested|measured
# which scripts/netem-vm turns into TAB-separated "precision netem ..." lines.
IP=/usr/sbin/ip
TC=/usr/sbin/tc
MODE=$(sed -n 's/.*faultline\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
[ -n "$MODE" ] || MODE=agent
ALL_CASES=detect,delay,loss,filtered,jitter,delay10,loss30,duplicate,expiry
# faultline.cases=delay,loss runs only those cases (default: all).
CASES=$(sed -n 's/.*faultline\.cases=\([a-z0-9,]*\).*/\1/p' /proc/cmdline)
[ -n "$CASES" ] || CASES=$ALL_CASES
CASES=" $(echo "$CASES" | tr ',' ' ') "
SOCK=/run/faultline/agent.sock
WAVE=""
FAILED=0
LONG=2m       # fault duration of the measured cases: the driver ends them
EXPIRY=3s     # the expiry case ends by itself

# in_ns NS CMD...: CMD in network namespace NS. tc -n / ip -n and busybox
# nsenter only switch the network namespace, which under TCG is much cheaper
# than `ip netns exec` (a dynamically linked binary that also builds a mount
# namespace with its own /sys). Only the agent gets the full `ip netns exec`.
in_ns() { ns_=$1; shift; nsenter --net=/run/netns/$ns_ "$@"; }
has() { case "$CASES" in *" $1 "*) return 0 ;; esac; return 1; }
now() { cut -d' ' -f1 /proc/uptime; }
info() { echo "INFO $(now) $*"; }

result() {  # case requested measured expected verdict
  echo "RESULT case=$1 requested=$2 measured=$3 expected=$4 verdict=$5"
  [ "$5" = FAIL ] && FAILED=$((FAILED + 1))
  return 0
}
precision() { echo "PRECISION $1|$2|$3"; }

within() {  # value low high -> PASS/FAIL
  awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { print (v + 0 >= lo + 0 && v + 0 <= hi + 0) ? "PASS" : "FAIL" }'
}
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
signed() { awk "BEGIN { printf \"%+.2f\", $1 }"; }

# dev_of / net_of CASE: its device and its N (the table above).
dev_of() {
  case $1 in
    delay) echo nm-delay ;; loss) echo nm-loss ;; filtered) echo nm-filt ;; jitter) echo nm-jit ;;
    delay10) echo nm-d10 ;; loss30) echo nm-l30 ;; duplicate) echo nm-dup ;;
    expiry) echo nm-exp ;; base) echo nm-base ;;
  esac
}
net_of() {
  case $1 in
    delay) echo 1 ;; loss) echo 2 ;; filtered) echo 3 ;; jitter) echo 4 ;;
    delay10) echo 5 ;; loss30) echo 6 ;; duplicate) echo 7 ;;
    expiry) echo 9 ;; base) echo 10 ;;
  esac
}
NET_CASES="delay loss filtered jitter delay10 loss30 duplicate expiry"

# icmp_echo_counts NS -> "OutEchos InEchoReps" of namespace NS's kernel
# (/proc/net/snmp is per namespace).
icmp_echo_counts() {
  in_ns "$1" cat /proc/net/snmp | awk '
    $1 == "Icmp:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
    $1 == "Icmp:" && h { print $col["OutEchos"], $col["InEchoReps"]; exit }'
}

# pingstats NS DEST COUNT INTERVAL STREAMS [SOURCE [q]] -> "sent replies n
# median sd mean iqr p10 p90" (ms): STREAMS parallel pings of COUNT each
# from namespace NS; the statistics are over the n RTTs ping printed
# (duplicates left out). With q (counting cases), ping stays quiet (no RTTs) and sent
# and replies are the echo requests NS's kernel sent and the echo replies it
# received (duplicates included), from its ICMP counters: they count what
# reached the host even when ping itself misses a reply (busybox ping's
# socket buffer holds about a dozen packets, and a busy TCG vCPU can leave it
# unread that long). Without q they are ping's own counts.
# Inside a wave (see sample_wave), each ping first registers and waits for
# the wave's start, so no ping sends while others are still starting up.
pingstats() {
  ns=$1 dest=$2 count=$3 interval=$4 streams=$5 source=$6 quiet=$7
  out=/tmp/ping.$ns.$source
  [ -z "$quiet" ] || before=$(icmp_echo_counts "$ns")
  k=0
  pids=""
  while [ $k -lt "$streams" ]; do
    in_ns "$ns" /bin/sh -c \
      '[ -z "$1" ] || { : > "$1/ready.$$"; read go < "$1/go"; }; shift; exec ping "$@"' \
      - "$WAVE" -c "$count" -i "$interval" -W 1 -s 16 ${source:+-I $source} ${quiet:+-q} \
      "$dest" >"$out.$k" 2>/dev/null &
    pids="$pids $!"
    k=$((k + 1))
  done
  wait $pids
  cat "$out".[0-9]* | grep -v 'DUP!' | sed -n 's/.*time=\([0-9.]*\).*/\1/p' | sort -n >"$out.rtt"
  if [ -n "$quiet" ]; then
    counts="$before $(icmp_echo_counts "$ns")"
  else
    counts="0 0 $(cat "$out".[0-9]* | awk '/packets transmitted/ { s += $1; r += $4 } END { print s + 0, r + 0 }')"
  fi
  # busybox awk has no sqrt(): Newton's method.
  awk -v counts="$counts" '
    function root(x, r, i) { if (x <= 0) return 0; r = x; for (i = 0; i < 100; i++) r = (r + x / r) / 2; return r }
    function at(p, i) { i = int(p * (n - 1)) + 1; return v[i] + (p * (n - 1) - (i - 1)) * (v[i + 1 <= n ? i + 1 : i] - v[i]) }
    { v[NR] = $1; s += $1; q += $1 * $1 }
    END { split(counts, c, " "); n = NR; m = n ? s / n : 0
          var = n > 1 ? (q - n * m * m) / (n - 1) : 0
          med = n ? at(0.5) : 0; iqr = n ? at(0.75) - at(0.25) : 0
          printf "%d %d %d %.2f %.2f %.2f %.2f %.2f %.2f\n", c[3] - c[1], c[4] - c[2], n, med, root(var), m, iqr, n ? at(0.1) : 0, n ? at(0.9) : 0 }' "$out.rtt"
  rm -f "$out".*
}

# What revert must restore: snd's qdiscs (every device) and links.
state() {
  $TC -n snd qdisc show
  $IP -n snd -o link show | sed 's/^[0-9]*: \([^:@]*\).*/\1/'
}
# DEV's qdisc lines as `tc qdisc show` prints them for all devices (with
# "dev DEV"; `tc qdisc show dev DEV` leaves that out).
dev_qdiscs() { $TC -n snd qdisc show | grep " dev $1 "; }
qdiscs() { dev_qdiscs "$1" | tr '\n' ';'; }

# ns_of CASE -> the namespace CASE pings from: the counting cases each have
# their own (their figures are that namespace's ICMP counters), the RTT
# cases (measured one at a time) and expiry share r-rtt.
ns_of() {
  case $1 in
    loss|loss30|duplicate) echo "r-$1" ;;
    *) echo r-rtt ;;
  esac
}
PEER_NAMESPACES="r-rtt r-loss r-loss30 r-duplicate"

# The peer of snd's DEV is named DEV too, in the case's namespace. Both ends
# get fixed MAC addresses and permanent neighbour entries: no ARP goes over
# the faulted links, so a fault acts on the measured pings only (a lost ARP
# reply would hold the first second of pings in the neighbour queue and drop
# most of them).
mac_of() { printf '02:00:00:00:%02x:%02x' "$1" "$2"; }  # N 1|2
setup() {
  {
    for ns in $PEER_NAMESPACES; do echo "netns add $ns"; done
    for c in $NET_CASES base; do
      n=$(net_of "$c")
      d=$(dev_of "$c")
      echo "link add $d address $(mac_of $n 1) netns snd type veth" \
        "peer name $d address $(mac_of $n 2) netns $(ns_of "$c")"
    done
  } | $IP -batch - || return 1
  {
    echo "link set lo up"
    for c in $NET_CASES base; do
      d=$(dev_of "$c")
      n=$(net_of "$c")
      echo "addr add 198.18.$n.1/24 dev $d"
      echo "link set $d up"
      echo "neigh add 198.18.$n.2 lladdr $(mac_of $n 2) dev $d nud permanent"
      [ "$c" = filtered ] && echo "neigh add 198.18.3.3 lladdr $(mac_of $n 2) dev $d nud permanent"
    done
  } | $IP -n snd -batch - || return 1
  for ns in $PEER_NAMESPACES; do
    {
      echo "link set lo up"
      for c in $NET_CASES base; do
        [ "$(ns_of "$c")" = "$ns" ] || continue
        d=$(dev_of "$c")
        n=$(net_of "$c")
        echo "addr add 198.18.$n.2/24 dev $d"
        [ "$c" = filtered ] && echo "addr add 198.18.3.3/24 dev $d"
        echo "link set $d up"
        echo "neigh add 198.18.$n.1 lladdr $(mac_of $n 1) dev $d nud permanent"
      done
    } | $IP -n "$ns" -batch - || return 1
  done
}

start_agent() {
  mkdir -p /run/faultline
  $IP netns exec snd /usr/bin/faultline-agent --listen "unix:$SOCK" --state-dir /run/faultline/state \
    --ready-file /run/faultline/ready --log-level info >/tmp/agent.log 2>&1 &
  AGENT_PID=$!
}

wait_agent() {
  i=0
  while [ ! -s /run/faultline/ready ] && [ $i -lt 600 ]; do
    kill -0 $AGENT_PID 2>/dev/null || break
    sleep 0.05
    i=$((i + 1))
  done
  if [ ! -s /run/faultline/ready ]; then
    echo "FAIL agent did not become ready; its log:"
    sed 's/^/FAIL   agent: /' /tmp/agent.log | tail -n 20
    return 1
  fi
  info "agent ready at $(cat /run/faultline/ready)"
  sed 's/^/INFO   agent: /' /tmp/agent.log | cut -c1-400 | head -n 12
}

# --- detect: engines on a kernel without nfnetlink ------------------------------
# The agent's start log line and its Capabilities (through `faultline plan`)
# must both say: netem yes, nftables and nfqueue no, each with a reason.
DETECT_YAML=/tmp/detect.yaml
detect_plan_start() {
  cat >$DETECT_YAML <<YAML
apiVersion: faultline/v1
kind: Experiment
metadata: {name: vm-detect, owner: netem-vm, description: "engines without nfnetlink"}
targets:
  vm: {agents: ["unix:$SOCK"]}
method:
  - {fault: network.delay, target: vm, params: {interface: nm-delay, delay: 100ms}, duration: 1s}
  - {fault: network.loss, target: vm, params: {interface: nm-delay, percent: 10}, duration: 1s}
  - {fault: network.partition, target: vm, params: {peers: [198.18.1.2/32]}, duration: 1s}
  - {fault: network.delay, target: vm, params: {interface: nm-delay, delay: 100ms, engine: nfqueue}, duration: 1s}
YAML
  /usr/bin/faultline plan $DETECT_YAML --agent-timeout 20s >/tmp/detect.out 2>&1 &
  PLAN_PID=$!
}

detect_check() {
  line=$(grep 'network engines' /tmp/agent.log | head -n 1)
  missing=$(echo "$line" | sed -n 's/.*missing="\(.*\)".*/\1/p')
  nft_why=$(echo "$missing" | tr ';' '\n' | sed -n 's/^ *nftables: //p' | head -n 1)
  nfq_why=$(echo "$missing" | tr ';' '\n' | sed -n 's/^ *nfqueue: //p' | head -n 1)
  if echo "$line" | grep -q 'netem=true' && echo "$line" | grep -q 'nftables=false' &&
     echo "$line" | grep -q 'nfqueue=false' && [ -n "$nft_why" ] && [ -n "$nfq_why" ]; then
    result detect_agent_log netem_yes_nft_no "netem=true,nftables=false,nfqueue=false" \
      netem_yes_nft_nfqueue_no_with_reason PASS
  else
    result detect_agent_log netem_yes_nft_no "see_log" netem_yes_nft_nfqueue_no_with_reason FAIL
    echo "FAIL   agent: $line"
  fi
  info "detect: nftables: $nft_why | nfqueue: $nfq_why"

  wait $PLAN_PID
  rc=$?
  sed 's/^/INFO   plan: /' /tmp/detect.out | cut -c1-300 | grep -E 'network\.|summary' | head -n 12
  # The STEP table: one row per fault, the ENGINE column names the engine
  # or "unavailable: <reason>".
  rows=$(grep -E '^[0-9]+ .* network\.' /tmp/detect.out)
  delay_row=$(echo "$rows" | grep 'network.delay' | grep -v nfqueue | head -n 1)
  loss_row=$(echo "$rows" | grep 'network.loss' | head -n 1)
  part_row=$(echo "$rows" | grep 'network.partition' | head -n 1)
  nfq_row=$(echo "$rows" | grep 'network.delay' | grep nfqueue | head -n 1)
  ok=1
  echo "$delay_row" | grep -q ' netem ' || ok=0
  echo "$loss_row" | grep -q ' netem ' || ok=0
  echo "$part_row" | grep -Eq 'unavailable: nftables: [a-z]' || ok=0
  echo "$nfq_row" | grep -q 'unavailable: pinned engine nfqueue not offered (offers: netem)' || ok=0
  [ $rc -eq 3 ] || ok=0  # 3: some fault cannot run (the partition, the pinned nfqueue)
  if [ $ok = 1 ]; then
    result detect_capabilities netem_yes_nft_no "delay,loss:netem;partition,nfqueue:unavailable" \
      netem_yes_nft_nfqueue_no_with_reason PASS
  else
    result detect_capabilities netem_yes_nft_no "plan_exit_$rc" \
      netem_yes_nft_nfqueue_no_with_reason FAIL
    sed 's/^/FAIL   plan: /' /tmp/detect.out | cut -c1-300 | tail -n 25
  fi
}

# --- the run ---------------------------------------------------------------------
# Per case: the method entry's params, the tc command of smoke mode, and the
# pattern veth qdiscs show while the fault is in place.
params_of() {
  case $1 in
    delay) echo "delay: 100ms" ;;
    loss) echo "percent: 10" ;;
    filtered) echo "delay: 100ms, destinations: [198.18.3.2/32]" ;;
    jitter) echo "delay: 50ms, jitter: 10ms" ;;
    delay10) echo "delay: 10ms" ;;
    loss30) echo "percent: 30" ;;
    duplicate) echo "percent: 10" ;;
    expiry) echo "delay: 100ms" ;;
  esac
}
kind_of() {
  case $1 in
    loss|loss30) echo network.loss ;;
    duplicate) echo network.duplicate ;;
    *) echo network.delay ;;
  esac
}
netem_of() {
  case $1 in
    delay|expiry) echo "delay 100ms" ;;
    loss) echo "loss 10%" ;;
    filtered) echo "delay 100ms" ;;
    jitter) echo "delay 50ms 10ms" ;;
    delay10) echo "delay 10ms" ;;
    loss30) echo "loss 30%" ;;
    duplicate) echo "duplicate 10%" ;;
  esac
}
pattern_of() {
  case $1 in
    filtered) echo "htb .*netem .*delay 100ms" ;;
    jitter) echo "netem .*delay 50ms +10ms" ;;
    delay10) echo "netem .*delay 10ms" ;;
    *) echo "netem .*$(netem_of "$1")" ;;
  esac
}

RUN_CASES=""
for c in $NET_CASES; do has "$c" && RUN_CASES="$RUN_CASES $c"; done
MEASURED_CASES=""
for c in $RUN_CASES; do [ "$c" = expiry ] || MEASURED_CASES="$MEASURED_CASES $c"; done

start_run() {
  if [ "$MODE" = smoke ]; then
    for c in $RUN_CASES; do
      d=$(dev_of "$c")
      if [ "$c" = filtered ]; then
        $TC -n snd qdisc add dev $d root handle 1: htb default 1
        $TC -n snd class add dev $d parent 1: classid 1:1 htb rate 10gbit
        $TC -n snd class add dev $d parent 1: classid 1:2 htb rate 10gbit
        $TC -n snd qdisc add dev $d parent 1:2 handle 20: netem delay 100ms
        $TC -n snd filter add dev $d parent 1: protocol ip prio 1 u32 match ip dst 198.18.3.2/32 flowid 1:2
      elif [ "$c" = expiry ]; then
        ($TC -n snd qdisc add dev $d root netem delay 100ms; sleep 3; $TC -n snd qdisc del dev $d root) &
      else
        $TC -n snd qdisc add dev $d root netem $(netem_of "$c")
      fi
    done
    return 0
  fi
  n=0
  for c in $RUN_CASES; do n=$((n + 1)); done
  {
    cat <<YAML
apiVersion: faultline/v1
kind: Experiment
metadata: {name: vm-netem, owner: netem-vm, description: "netem cases in parallel"}
targets:
  vm: {agents: ["unix:$SOCK"]}
method:
YAML
    indent="  "
    if [ $n -gt 1 ]; then echo "  - parallel:"; indent="      "; fi
    for c in $RUN_CASES; do
      duration=$LONG
      [ "$c" = expiry ] && duration=$EXPIRY
      echo "$indent- {fault: $(kind_of "$c"), target: vm, params: {interface: $(dev_of "$c"), $(params_of "$c")}, duration: $duration}"
    done
  } >/tmp/run.yaml
  info "run: starting (clock $(date +%H:%M:%S))"
  /usr/bin/faultline run /tmp/run.yaml --journal /tmp/journal.db >/tmp/run.log 2>&1 &
  RUN_PID=$!
}

# Whether every measured case's qdisc pattern shows on its device (expiry's,
# when it is the only case); sets `missing` to the cases whose pattern does
# not.
all_in_place() {
  $TC -n snd qdisc show >/tmp/qd
  missing=""
  for c in ${MEASURED_CASES:-$RUN_CASES}; do
    grep " dev $(dev_of "$c") " /tmp/qd | tr '\n' ';' | grep -Eq "$(pattern_of "$c")" ||
      missing="$missing $c"
  done
  [ -z "$missing" ]
}
# Waits (up to 60 s) until every measured fault is in place; returns 1 if one
# never is.
wait_in_place() {
  i=0
  while ! all_in_place && [ $i -lt 200 ]; do
    if [ "$MODE" = agent ] && ! kill -0 $RUN_PID 2>/dev/null; then break; fi
    sleep 0.3
    i=$((i + 1))
  done
  if [ -n "$missing" ]; then
    for c in $missing; do
      result "${c}_applied" "-" "not_applied" "netem_in_place" FAIL
      echo "FAIL   $c qdiscs: $(qdiscs "$(dev_of "$c")")"
    done
    return 1
  fi
  info "all faults in place:$MEASURED_CASES"
}

# streams_of CASE -> how many ping processes sample CASE starts.
streams_of() {
  case $1 in
    filtered|loss) echo 4 ;;
    *) echo 2 ;;
  esac
}

# sample CASE -> /tmp/raw.CASE, its pingstats line(s) (run in the background,
# one per case). Every case pings from its peer namespace to snd's address,
# so the fault on snd's device acts on the echo replies. "base"
# pings over nm-base, which no fault touches, at the same time as the RTT
# cases: the delay figures are RTT medians minus this baseline taken under
# the same load.
sample() {
  ns=$(ns_of "$1")
  dst=198.18.$(net_of "$1").1
  case $1 in
    base|delay|delay10) pingstats $ns $dst 15 0.03 2 ;;
    filtered)  # replies to .2 match the filter, replies to .3 do not
      pingstats $ns $dst 15 0.03 2 198.18.3.3 >/tmp/raw.other &
      pingstats $ns $dst 15 0.03 2 198.18.3.2
      wait $!
      cat /tmp/raw.other
      ;;
    jitter) pingstats $ns $dst 50 0.02 2 ;;
    loss) pingstats $ns $dst 150 0.005 4 "" q ;;
    loss30|duplicate) pingstats $ns $dst 100 0.005 2 "" q ;;
  esac >/tmp/raw.$1
}

# report CASE -> its RESULT and PRECISION lines from /tmp/raw.CASE.
report() {
  set -- $1 $(head -n 1 /tmp/raw.$1)
  c=$1
  shift
  # $1 sent, $2 replies, $3 RTTs, $4 median, $5 sd, $6 mean, $7 IQR,
  # $8 10th and $9 90th percentile.
  [ -z "$3" ] || [ "$3" = 0 ] || info "rtt $c: p10 $8 median $4 p90 $9 mean $6 ms (n=$3)"
  case $c in
    delay)
      added=$(signed "$4 - $BASE")
      result delay_100ms 100ms "${added}ms_(mean_$(signed "$6 - $BASE"),n=$3)" "95..105ms" \
        "$(within "$added" 95 105)"
      precision delay "100 ms" "$added ms"
      ;;
    loss)
      lost=$(calc "100 * ($1 - $2) / $1")
      result loss_10pct "10%" "${lost}%_of_$1" "6..14%" "$(within "$lost" 6 14)"
      precision loss "10%" "$lost% (n=$1)"
      ;;
    filtered)
      added=$(signed "$4 - $BASE")
      result filtered_target 100ms_to_.2 "${added}ms_(n=$3)" "95..105ms" \
        "$(within "$added" 95 105)"
      precision "filtered delay, target dst" "100 ms" "$added ms"
      set -- $(sed -n 2p /tmp/raw.filtered)
      other=$(signed "$4 - $BASE")
      result filtered_other none_to_.3 "${other}ms_(n=$3)" "-5..+5ms" "$(within "$other" -5 5)"
      precision "filtered delay, other dst" "0 ms" "$other ms"
      ;;
    jitter)
      # Uniform on [40, 60] ms: median 50, IQR 10, sd 20/sqrt(12) = 5.77.
      added=$(signed "$4 - $BASE")
      result jitter_median "50ms+-10ms" "${added}ms" "45..55ms" "$(within "$added" 45 55)"
      result jitter_iqr "50ms+-10ms" "${7}ms_(sd_${5}ms,n=$3)" "6..14ms" "$(within "$7" 6 14)"
      precision "jitter median" "50±10 ms uniform: 50 ms" "$added ms"
      precision "jitter sd" "50±10 ms uniform: 5.77 ms" "$5 ms"
      precision "jitter iqr" "50±10 ms uniform: 10 ms" "$7 ms"
      ;;
    delay10)
      added=$(signed "$4 - $BASE")
      result delay_10ms 10ms "${added}ms" "~10ms" INFO
      precision delay "10 ms" "$added ms"
      ;;
    loss30)
      lost=$(calc "100 * ($1 - $2) / $1")
      result loss_30pct "30%" "${lost}%_of_$1" "~30%" INFO
      precision loss "30%" "$lost% (n=$1)"
      ;;
    duplicate)
      dup=$(calc "100 * ($2 - $1) / $1")
      result duplicate_10pct "10%" "${dup}%_of_$1" "~10%" INFO
      precision duplicate "10%" "$dup% (n=$1)"
      ;;
  esac
}

# Samples in waves, every case of a wave at once: first the baseline and the
# RTT cases one by one (a busy vCPU adds scheduling delay to RTTs, and under
# TCG that shows), then the counting cases together (many packets; their
# figures come from kernel counters, so timing does not matter to them). All
# faults stay in place through all waves; they must still be there at the
# end.
sample_wave() {
  # The barrier: a FIFO the driver holds open read-write, so a waiter's
  # open never blocks and a line written before its read stays buffered;
  # once every ping of the wave is registered, one line per ping starts them.
  WAVE=/tmp/wave
  rm -rf $WAVE
  mkdir -p $WAVE
  mkfifo $WAVE/go
  exec 7<>$WAVE/go
  pids=""
  expected=0
  for c in $1; do
    case " base $MEASURED_CASES " in *" $c "*) ;; *) continue ;; esac
    sample "$c" &
    pids="$pids $!"
    expected=$((expected + $(streams_of "$c")))
  done
  if [ -z "$pids" ]; then exec 7>&-; WAVE=""; return 0; fi
  t0=$(now)
  while [ "$(ls $WAVE | grep -c '^ready')" -lt $expected ] &&
        [ "$(within "$(now)" 0 "$(calc "$t0 + 30")")" = PASS ]; do
    sleep 0.1
  done
  ready=$(calc "$(now) - $t0")
  i=0
  while [ $i -lt $expected ]; do echo go >&7; i=$((i + 1)); done
  exec 7>&-
  # (A bare `wait` would wait for the run and the agent too.)
  wait $pids
  WAVE=""
  info "measured: $1 ($expected pings, all started ${ready}s into the wave)"
}
measure_all() {
  for c in base delay filtered jitter delay10; do sample_wave $c; done
  sample_wave "loss loss30 duplicate"
  if ! all_in_place; then
    for c in $missing; do
      result "${c}_window" "-" "fault_ended_while_measuring" "fault_in_place" FAIL
      echo "FAIL   $c qdiscs: $(qdiscs "$(dev_of "$c")")"
    done
  fi
  set -- $(cat /tmp/raw.base)
  BASE=$4
  result baseline none "median_${BASE}ms_(n=$3)" "-" INFO
  precision baseline "0 ms" "$BASE ms RTT"
  for c in $MEASURED_CASES; do report "$c"; done
}

# expiry: its fault must leave nm-exp by its own 3 s duration while the run
# goes on. The run applies it together with the others, so by the end of the
# measurements it is normally gone already; waits (up to 30 s) until nm-exp
# shows exactly its qdisc from before. The run's log must later name this
# revert "duration" (not the SIGTERM that ends the run), which also proves
# it was applied at all.
wait_expiry() {
  vx_before=$(echo "$BEFORE" | grep ' dev nm-exp ')
  t0=$(now)
  while [ "$(dev_qdiscs nm-exp)" != "$vx_before" ] &&
        [ "$(within "$(now)" 0 "$(calc "$t0 + 30")")" = PASS ]; do
    sleep 0.3
  done
  if [ "$(dev_qdiscs nm-exp)" = "$vx_before" ]; then
    info "expiry: nm-exp is back to its own qdisc"
    return 0
  fi
  return 1
}
expiry_result() {
  ok=$1
  if [ "$MODE" = agent ]; then
    id=$(grep 'fault.applied' /tmp/run.log | grep 'interface=nm-exp' | awk '{ print $3 }' | head -n 1)
    [ -n "$id" ] && grep 'fault.reverted' /tmp/run.log | grep -F "$id " | grep -q '(duration' ||
      ok=0
  fi
  if [ "$ok" = 1 ]; then
    result expiry_revert "$EXPIRY" reverted_by_duration "clean_while_run_goes_on" PASS
  else
    result expiry_revert "$EXPIRY" "not_reverted_by_duration" "clean_while_run_goes_on" FAIL
    grep -E 'interface=nm-exp|fault.reverted' /tmp/run.log 2>/dev/null | cut -c1-300 |
      sed 's/^/FAIL   run: /'
  fi
}

# Ends the run the way an operator does (SIGTERM; agent mode: exit 3, every
# fault reverted) or removes the qdiscs (smoke), then compares the state.
end_run() {
  if [ "$MODE" = agent ]; then
    # A run whose every fault ends by itself (--cases expiry) ends by itself
    # and exits 0.
    want=0
    how=ended_by_itself
    if [ -n "$MEASURED_CASES" ]; then
      info "run: SIGTERM to pid $RUN_PID"
      kill -TERM $RUN_PID
      want=3
      how=SIGTERM
    fi
    wait $RUN_PID
    rc=$?
    grep -E 'run\.started|fault\.(applied|failed)|run\.(finished|aborted)|abort' /tmp/run.log |
      cut -c1-200 | sed 's/^/INFO   run: /'
    applied=$(grep -c 'fault\.applied' /tmp/run.log)
    reverted=$(grep -c 'fault\.reverted' /tmp/run.log)
    info "run: exit $rc, $applied faults applied, $reverted reverted"
    if [ $rc -eq $want ] && [ "$applied" -eq "$reverted" ]; then
      result run_stopped "$how" "exit_$rc,${reverted}_reverted" "exit_$want,all_reverted" PASS
    else
      result run_stopped "$how" "exit_${rc},${applied}_applied,${reverted}_reverted" \
        "exit_$want,all_reverted" FAIL
      sed 's/^/FAIL   run: /' /tmp/run.log | tail -n 25
    fi
  else
    for c in $RUN_CASES; do $TC -n snd qdisc del dev "$(dev_of "$c")" root 2>/dev/null; done
  fi
  after=$(state)
  if [ "$after" = "$BEFORE" ]; then
    result run_revert "clean" "clean" "same_qdiscs_and_links" PASS
  else
    result run_revert "clean" "left_state" "same_qdiscs_and_links" FAIL
    echo "$after" | sed 's/^/FAIL   after: /'
    echo "$BEFORE" | sed 's/^/FAIL   before: /'
  fi
}

# --- main ------------------------------------------------------------------------
T0=$(now)
for c in $CASES; do
  case ",$ALL_CASES," in *",$c,"*) ;; *) result "$c" - unknown_case "one_of_$ALL_CASES" FAIL ;; esac
done
echo "INFO mode=$MODE kernel=$(uname -r) uptime_at_driver=${T0}s cpus=$(grep -c ^processor /proc/cpuinfo) cases=$(echo $CASES | tr ' ' ',')"
if ! $IP netns add snd; then
  echo "FAIL netns add snd failed"
  exit 1
fi
# The agent's start (library loading, engine probe) overlaps the lab setup;
# the agent only needs its namespace to exist.
[ "$MODE" = agent ] && start_agent
if ! setup; then
  echo "FAIL lab setup failed"
  exit 1
fi
BEFORE=$(state)
info "lab ready"
# The Capabilities check (a plan) and the run start together.
[ "$MODE" = agent ] && { wait_agent || exit 1; }
[ "$MODE" = agent ] && has detect && detect_plan_start
[ -n "$RUN_CASES" ] && start_run
[ "$MODE" = agent ] && has detect && detect_check

if [ -n "$RUN_CASES" ]; then
  expiry_ok=0
  if wait_in_place; then
    measure_all
    if has expiry; then wait_expiry && expiry_ok=1; fi
  fi
  end_run
  has expiry && expiry_result $expiry_ok
fi

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
info "driver took $(awk -v t0="$T0" '{ printf "%.1f", $1 - t0 }' /proc/uptime)s, $FAILED failed"
[ "$FAILED" -eq 0 ]
