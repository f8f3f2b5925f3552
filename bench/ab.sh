#!/usr/bin/env bash
# Two builds of eipd, interleaved on the same machine: durable AllocateAddress
# (embedded store, group commit), DescribeAddresses by id and with a tag
# filter, and an assoc/disassoc cycle, each at c=16, ROUNDS rounds of both.
# For a change that must not cost speed (a refactor): compare the medians.
#
# Usage: bench/ab.sh A_BIN_DIR B_BIN_DIR [-d SECONDS] [-r ROUNDS]
#   a BIN_DIR holds eipd and eipd-loadgen (a target/release of each build)
#   -d SECONDS  measured per cell (default 4; 1 s warm-up before)
#   -r ROUNDS   A/B rounds (default 3)
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
a=$1 b=$2; shift 2
duration=4 rounds=3
while [ $# -gt 0 ]; do
  case $1 in
    -d) duration=$2; shift ;;
    -r) rounds=$2; shift ;;
    *) echo "ab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

start() {  # start BIN_DIR -> sets $url and $pid (a fresh embedded store)
  local out="$tmp/out.$RANDOM" data="$tmp/data.$RANDOM"
  "$1/eipd" serve --listen 127.0.0.1:0 --data-dir "$data" --address-limit 100000000 \
    --pool 100.64.0.0/10 >"$out" 2>>"$tmp/log" &
  pid=$!
  for _ in $(seq 100); do grep -q http "$out" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://[^ ]*' "$out" | head -1)
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; }
rate() {  # rate BIN_DIR SCENARIO ARGS… -> operations/s (an assoc-cycle pair is one)
  local gen=$1/eipd-loadgen scenario=$2; shift 2
  "$gen" --endpoint "$url" -c 16 -d "$duration" -w 1 --json "$@" "$scenario" 2>/dev/null |
    python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); print(round(sum(o["rps"] for o in d["ops"].values())))'
}
run() {  # run LABEL BIN_DIR -> one line per scenario
  local label=$1 dir=$2 ids="$tmp/ids.$RANDOM"
  start "$dir"
  echo "$label allocate $(rate "$dir" allocate --accounts 16)"
  stop
  start "$dir"
  "$dir/eipd-loadgen" --endpoint "$url" -c 16 --count 2000 --tag-key ab --tag-every 10 --ids "$ids" \
    populate >/dev/null 2>&1
  echo "$label describe-by-id $(rate "$dir" describe-by-id --ids "$ids")"
  echo "$label describe-filter-tag $(rate "$dir" describe-filter --filter tag --tag-key ab --ids "$ids")"
  echo "$label assoc-cycle $(rate "$dir" assoc-cycle)"
  stop
}
# The order alternates: whichever build runs first in a round measured up
# to 15% faster here, whichever it was.
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then run A "$a"; run B "$b"; else run B "$b"; run A "$a"; fi
done | tee "$tmp/results"
python3 - "$tmp/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    build, scenario, value = line.split()
    rows.setdefault(scenario, {}).setdefault(build, []).append(int(value))
print(f"{'scenario':<22}{'A median':>10}{'B median':>10}{'B/A':>8}")
for scenario, builds in rows.items():
    a, b = statistics.median(builds["A"]), statistics.median(builds["B"])
    print(f"{scenario:<22}{a:>10.0f}{b:>10.0f}{b / a:>8.2f}")
PY
