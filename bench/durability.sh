#!/usr/bin/env bash
# Durable mutations/s (issue 4): AllocateAddress at concurrency 1 and 16 on
# the memory store (no durability: the baseline), the embedded store with and
# without group commit, and PostgreSQL with 1 and 3 nodes. One run, one table;
# compare rows as ratios, the machine is noisy.
# Usage: bench/durability.sh [-d SECONDS]   (needs Debian's postgresql for the PG rows)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=5
[ "${1:-}" = -d ] && duration=$2
cargo build --release --quiet -p eipd -p eipd-loadgen
gen=target/release/eipd-loadgen
tmp=$(mktemp -d)
pids=()
pg_dir=
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "$pg_dir" ] && scripts/pg-throwaway stop "$pg_dir"; rm -rf "$tmp"; }
trap cleanup EXIT

start() {  # start ARGS… -> sets $url
  local out="$tmp/out.$RANDOM"
  target/release/eipd serve --listen 127.0.0.1:0 --address-limit 100000000 --pool 100.64.0.0/10 "$@" >"$out" 2>>"$tmp/log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q http "$out" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://[^ ]*' "$out")
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
measure() {  # measure LABEL CONCURRENCY URL… -> one table row (rates of the URLs add up)
  local label=$1 c=$2; shift 2
  local n=$# per=$(( c / $# )); [ "$per" -lt 1 ] && per=1
  local files=() gens=()
  for u in "$@"; do
    f="$tmp/res.$RANDOM"; files+=("$f")
    "$gen" --endpoint "$u" -c "$per" -d "$duration" -w 1 --accounts 16 --json allocate >"$f" 2>/dev/null &
    gens+=($!)
  done
  wait "${gens[@]}"
  python3 - "$label" "$c" "${files[@]}" <<'PY'
import json, sys
label, c, files = sys.argv[1], sys.argv[2], sys.argv[3:]
ops = [json.loads(line)["ops"]["allocate"] for f in files for line in open(f) if line.startswith("{")]
rate = sum(o["rps"] for o in ops)
p50 = max(o["p50_ms"] or 0 for o in ops)
p99 = max(o["p99_ms"] or 0 for o in ops)
errs = sum(o["errors"] for o in ops)
print(f"| {label:<34} | {c:>3} | {rate:>10.0f} | {p50:>7.2f} | {p99:>7.2f} | {errs:>6} |")
PY
}

echo "AllocateAddress, ${duration}s per cell, 16 accounts, loadgen: $gen"
echo "| store                              |   c |  req/s     | p50 ms  | p99 ms  | errors |"
echo "|------------------------------------|-----|------------|---------|---------|--------|"
for c in 1 16; do
  start --store memory; measure "memory (not durable, baseline)" $c "$url"; stop_all
  rm -rf "$tmp/data"; start --data-dir "$tmp/data"; measure "embedded, group commit" $c "$url"; stop_all
  rm -rf "$tmp/data"; start --data-dir "$tmp/data" --no-group-commit; measure "embedded, one fsync per change" $c "$url"; stop_all
done
if ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  read -r pg_url pg_dir < <(scripts/pg-throwaway "$port")
  for c in 1 16; do
    start --store "$pg_url"; measure "postgres, 1 node" $c "$url"; stop_all
    start --store "$pg_url"; u1=$url; start --store "$pg_url"; u2=$url; start --store "$pg_url"; u3=$url
    measure "postgres, 3 nodes" $c "$u1" "$u2" "$u3"; stop_all
  done
fi
