#!/usr/bin/env bash
# The PostgreSQL fleet (issue 16), one run, one table; compare rows as
# ratios, the machine is noisy:
#   - pgbench's simple-update rate (-N, -c 16 -j 2, scale 10) on the same
#     throwaway PostgreSQL: the ceiling of one operation per transaction;
#   - AllocateAddress on 1 node (c=16, 16 accounts) and on 3 nodes (c=48,
#     48 accounts), all in one region, then with each node's clients in a
#     region of their own;
#   - DescribeAddresses by id on 1 node and on 3 nodes.
# Each write row also gives how many operations (transactions for pgbench)
# one WAL flush made durable (pg_stat_wal.wal_sync): with the clients in a
# closed loop, the flush rate bounds every write row, and this column says
# how much of it each one uses. The last two columns are CPU time per
# operation: eipd's processes', and the whole machine's (eipd, the loadgen
# and PostgreSQL), from /proc.
# Usage: bench/fleet.sh [-d SECONDS] [--eipd BINARY]   (needs Debian's postgresql)
#   --eipd measures another build (an older commit's, for an A/B: run both,
#   alternating, and compare their ratios to pgbench).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10 eipd=target/release/eipd
while [ $# -gt 0 ]; do
  case "$1" in
    -d) duration=$2; shift 2 ;;
    --eipd) eipd=$2; shift 2 ;;
    *) echo "fleet.sh: unknown option $1 (usage: bench/fleet.sh [-d SECONDS] [--eipd BINARY])" >&2; exit 2 ;;
  esac
done
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
cargo build --release --quiet -p eipd -p eipd-loadgen
gen=target/release/eipd-loadgen
tmp=$(mktemp -d)
pids=()
pg_dir=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$pg_dir" ] && scripts/pg-throwaway stop "$pg_dir"
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
read -r pg_url pg_dir < <(scripts/pg-throwaway "$port")

start() {  # start -> appends its URL to $urls
  local out="$tmp/out.$RANDOM"
  "$eipd" serve --listen 127.0.0.1:0 --store "$pg_url" --address-limit 100000000 --pool 100.64.0.0/10 \
    >"$out" 2>>"$tmp/log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q http "$out" 2>/dev/null && break; sleep 0.1; done
  urls+=("$(grep -o 'http://[^ ]*' "$out")")
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); urls=(); }
reset() { curl -s -X POST "${urls[0]}/moto-api/reset" >/dev/null; }

# WAL flushes since the server started (the backends report theirs within
# a second of their last transaction: wait that out first).
wal_syncs() {
  sleep 1.5
  as_pg "$bin/psql -h 127.0.0.1 -p $port -U eipd -d eipd -Atc 'SELECT wal_sync FROM pg_stat_wal'"
}

# CPU ticks (user + system) used so far by the eipd processes, and by the
# whole machine (busy ticks of /proc/stat: all but idle and iowait).
eipd_ticks() {
  local t=0 p
  for p in "${pids[@]}"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done
  echo "$t"
}
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# measure LABEL SCENARIO C ACCOUNTS SPREAD URL… -> one row; the loadgens of
# the URLs run together and their rates add up. SPREAD=regions gives each
# URL's clients a region of their own.
measure() {
  local label=$1 scenario=$2 c=$3 accounts=$4 spread=$5; shift 5
  local per=$(( c / $# )) per_accounts=$(( accounts / $# )) files=() gens=() i=0
  local regions=(us-east-1 eu-west-1 ap-southeast-2) syncs_before eipd_before busy_before
  syncs_before=$(wal_syncs)
  eipd_before=$(eipd_ticks) busy_before=$(busy_ticks)
  for u in "$@"; do
    local f="$tmp/res.$RANDOM" region=us-east-1
    [ "$spread" = regions ] && region=${regions[$i]}
    files+=("$f")
    # Accounts of different loadgens must differ: each starts its own range.
    "$gen" --endpoint "$u" -c "$per" -d "$duration" -w 1 --accounts "$per_accounts" \
      --access-key "$(( 100000000000 + i * 1000 ))" --region "$region" --json "$scenario" >"$f" 2>>"$tmp/log" &
    gens+=($!)
    i=$(( i + 1 ))
  done
  wait "${gens[@]}"
  local eipd_used=$(( $(eipd_ticks) - eipd_before )) busy=$(( $(busy_ticks) - busy_before ))
  local syncs=$(( $(wal_syncs) - syncs_before ))
  python3 - "$label" "$c" "$scenario" "$syncs" "$duration" "$eipd_used" "$busy" "$(getconf CLK_TCK)" "${files[@]}" <<'PY'
import json, sys
label, c, scenario, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[9:]
syncs, duration = int(sys.argv[4]), float(sys.argv[5])
eipd_us, busy_us = (int(sys.argv[i]) * 1e6 / int(sys.argv[8]) for i in (6, 7))
ops = [json.loads(line)["ops"][scenario] for f in files for line in open(f) if line.startswith("{")]
rate = sum(o["rps"] for o in ops)
# The flushes were counted over the 1 s warm-up too, at about the same rate.
done = rate * (duration + 1)
p50 = max(o["p50_ms"] or 0 for o in ops)
p99 = max(o["p99_ms"] or 0 for o in ops)
errs = sum(o["errors"] for o in ops)
per_flush = f"{done / syncs:.1f}" if scenario != "describe-by-id" and syncs else "-"
print(f"| {label:<44} | {c:>3} | {rate:>9.0f} | {p50:>7.2f} | {p99:>7.2f} | {errs:>6} | {per_flush:>9} "
      f"| {eipd_us / done:>8.0f} | {busy_us / done:>7.0f} |")
PY
}

as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at $pg_url; ${duration}s per row; eipd: $eipd; loadgen: $gen"
echo "| what                                         |   c |    ops/s  | p50 ms  | p99 ms  | errors | per flush | eipd µs/op | all µs/op |"
echo "|----------------------------------------------|-----|-----------|---------|---------|--------|-----------|------------|-----------|"
as_pg "$bin/pgbench -h 127.0.0.1 -p $port -U eipd -i -s 10 -q eipd" >/dev/null 2>&1
syncs_before=$(wal_syncs) busy_before=$(busy_ticks)
pgbench_out=$(as_pg "$bin/pgbench -h 127.0.0.1 -p $port -U eipd -N -c 16 -j 2 -T $duration eipd" 2>&1)
busy=$(( $(busy_ticks) - busy_before ))
syncs=$(( $(wal_syncs) - syncs_before ))
tps=$(grep -o 'tps = [0-9.]*' <<<"$pgbench_out" | head -1 | awk '{print $3}')
lat=$(grep -o 'latency average = [0-9.]*' <<<"$pgbench_out" | awk '{print $4}')
txns=$(grep -o 'number of transactions actually processed: [0-9]*' <<<"$pgbench_out" | awk '{print $NF}')
per_flush=$(python3 -c "print(f'{$txns / max($syncs, 1):.1f}')")
all_us=$(python3 -c "print(f'{$busy * 1e6 / $(getconf CLK_TCK) / max($txns, 1):.0f}')")
printf "| %-44s | %3s | %9.0f | %7s | %7s | %6s | %9s | %10s | %9s |\n" "pgbench -N (simple update), baseline" 16 "$tps" "avg $lat" "-" 0 "$per_flush" "-" "$all_us"

urls=()
start; reset
measure "eipd, 1 node, allocate, 16 accounts" allocate 16 16 same "${urls[@]}"
measure "eipd, 1 node, describe by id" describe-by-id 16 16 same "${urls[@]}"
stop_all
start; start; start; reset
measure "eipd, 3 nodes, allocate, 48 accounts, 1 region" allocate 48 48 same "${urls[@]}"
measure "eipd, 3 nodes, allocate, a region per node" allocate 48 48 regions "${urls[@]}"
measure "eipd, 3 nodes, describe by id" describe-by-id 48 48 same "${urls[@]}"
stop_all
