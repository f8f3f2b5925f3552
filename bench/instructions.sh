#!/usr/bin/env bash
# User-space instructions per request of eipd's reads and of the trivial
# responder, counted by valgrind's callgrind: the same figure in every run,
# unlike requests/s on a noisy machine. Use it to compare two builds of the
# read path; use compare.sh for throughput.
#
# Usage: bench/instructions.sh [--no-build] [--addresses N] [-d SECONDS]
#   --no-build     use the binaries already in target/profiling
#   --addresses N  store size (default 2000; one in 10 tagged)
#   -d SECONDS     load per server under valgrind (default 8)
# Needs valgrind (Debian: apt-get install valgrind).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=1 size=2000 dur=8
while [ $# -gt 0 ]; do
  case $1 in
    --no-build) build=0 ;;
    --addresses) size=$2; shift ;;
    -d) dur=$2; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "instructions.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }
if [ "$build" = 1 ]; then
  # the profiling profile: release code with line tables, so that
  # callgrind_annotate can name source lines (the shipped release has none)
  echo "building (profiling): eipd, eipd-loadgen, eipd-trivial-responder" >&2
  (cd "$root" && cargo build --profile profiling --quiet -p eipd -p eipd-loadgen -p eipd-trivial-responder)
fi
bin=$root/target/profiling
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# start OUT CMD...: runs CMD in the background and waits for its "http://" line
start() {
  local out=$1; shift
  "$@" >"$out" 2>"$out.err" &
  pid=$!
  for _ in $(seq 600); do
    grep -q 'http://' "$out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$out.err" >&2; exit 1; }
    sleep 0.1
  done
  url=$(grep -o 'http://[0-9.:]*' "$out" | head -1)
}
stop() {
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  pid=
}
eipd_args=(serve --listen 127.0.0.1:0 --data-dir "$work/data" --address-limit 100000000 --pool 100.64.0.0/10)

start "$work/populate.out" "$bin/eipd" "${eipd_args[@]}"
"$bin/eipd-loadgen" --endpoint "$url" -c 16 --ids "$work/ids.tsv" --count "$size" --tag-every 10 populate >/dev/null 2>&1
stop

# measure NAME SCENARIO... under callgrind (counters zeroed once listening,
# so start-up is not counted); prints "NAME requests instructions/request"
measure() {
  local name=$1; shift
  local server=("$bin/eipd" "${eipd_args[@]}")
  [ "$name" = trivial ] && server=("$bin/eipd-trivial-responder" --listen 127.0.0.1:0)
  rm -f "$work"/cg.out*
  start "$work/$name.out" valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "${server[@]}"
  sleep 1
  callgrind_control -z "$pid" >/dev/null
  local line n total
  line=$("$bin/eipd-loadgen" --endpoint "$url" -c 4 -d "$dur" -w 0 --ids "$work/ids.tsv" "$@" 2>&1 | tail -1)
  n=$(grep -o ' n=[0-9]*' <<<"$line" | cut -d= -f2)
  stop
  total=$(callgrind_annotate "$work"/cg.out* 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$name $n $((total / n))"
}

results=$(
  measure trivial raw
  measure describe-by-id describe-by-id
  measure filter-allocation-id describe-filter --filter allocation-id
  measure filter-tag describe-filter --filter tag
)
echo
echo "user-space instructions per request (callgrind; $size addresses, c=4, ${dur}s each)"
awk 'NR == 1 {base = $3} {printf "%-22s %8s requests  %7d instr/req  %5.2f× trivial\n", $1, $2, $3, $3 / base}' <<<"$results"
