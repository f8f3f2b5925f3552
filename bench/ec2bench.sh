#!/usr/bin/env bash
# Drives a release eipd with the shared Python load generator
# (../shared/bench/ec2bench.py): AllocateAddress, DescribeAddresses
# (unfiltered and by allocation id) and Associate+Disassociate pairs.
# Usage: bench/ec2bench.sh [--store memory|embedded] [-c CONCURRENCY] [-d SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
store=embedded concurrency=16 duration=10 procs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --store) store=$2; shift 2 ;;
    -c) concurrency=$2; shift 2 ;;
    -d) duration=$2; shift 2 ;;
    --procs) procs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
gen=${EC2BENCH:-../shared/bench/ec2bench.py}
[ -f "$gen" ] || { echo "load generator not found at $gen (set EC2BENCH)" >&2; exit 1; }
cargo build --release --quiet
data=$(mktemp -d)
out=$(mktemp)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$data" "$out"' EXIT
start() {
  [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  rm -rf "$data"/* ; : >"$out"
  target/release/eipd serve --listen 127.0.0.1:0 --data-dir "$data" --store "$store" \
    --address-limit 100000000 --pool 100.64.0.0/10 >"$out" 2>"$data.log" &
  pid=$!
  for _ in $(seq 50); do grep -q http "$out" && break; sleep 0.1; done
  url=$(grep -o 'http://[^ ]*' "$out")
}
run() { python3 "$gen" --endpoint "$url" -c "$concurrency" -d "$duration" --procs "$procs" "$@" | grep -v '^JSON'; }
start
echo "eipd $(target/release/eipd --version | cut -d' ' -f2), store $store, c=$concurrency, ${duration}s each, load generator: $gen"
python3 "$gen" --endpoint "$url" populate --count 10 >/dev/null
run describe
run describe-filter --filter-style filter
run describe-filter --filter-style param
run assoc-cycle
start
run allocate
echo "addresses held after allocate: $(python3 "$gen" --endpoint "$url" count | grep -v '^JSON')"
