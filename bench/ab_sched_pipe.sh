#!/usr/bin/env bash
# Before/after for a change to the sched family: `perf bench sched pipe` pinned to CPU 0 for 3 s,
# untraced, under two triage builds (`--probes sched --measure-overhead`, switch_btf's ns/run from
# the report) and under libbpf-tools' runqlat, interleaved round by round in one run.
#   sudo bench/ab_sched_pipe.sh OLD_TRIAGE NEW_TRIAGE [ROUNDS]
set -euo pipefail
old=${1:?usage: $0 OLD_TRIAGE NEW_TRIAGE [ROUNDS]}; new=${2:?}; rounds=${3:-5}
runqlat=$(command -v runqlat || echo /usr/sbin/runqlat)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
pipe_us() {
  local start sum=0 n=0 v
  start=$(date +%s.%N)
  while :; do
    v=$(taskset -c 0 perf bench sched pipe -l 200000 | awk '/usecs\/op/{print $1}')
    sum=$(echo "$sum + $v" | bc -l); n=$((n + 1))
    [ "$(echo "$(date +%s.%N) - $start > 3" | bc)" = 1 ] && break
  done
  echo "scale=3; $sum / $n" | bc -l
}
under_triage() {
  "$1" record -d 60 --probes sched --quiet --measure-overhead -o "$work/ab.db" >"$work/report.txt" 2>&1 &
  local pid=$! v
  sleep 1.5; v=$(pipe_us); kill -INT "$pid"; wait "$pid" || true
  echo "$v $(grep -o 'switch_btf *[0-9]* runs *[0-9]* ns/run' "$work/report.txt" | awk '{print $4}')ns"
  rm -f "$work/ab.db"
}
under_runqlat() {
  "$runqlat" 60 1 >/dev/null 2>&1 &
  local pid=$! v
  sleep 1.5; v=$(pipe_us); kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  echo "$v"
}
for r in $(seq "$rounds"); do
  sleep 1; none=$(pipe_us); sleep 1; o=$(under_triage "$old"); sleep 1; w=$(under_triage "$new"); sleep 1; q=$(under_runqlat)
  echo "round $r: none $none us/op | old $o | new $w | runqlat $q"
done
