#!/usr/bin/env bash
# eipd vs moto vs a trivial responder, side by side on loopback, one table.
#
#   bench/compare.sh            # default run (store sizes 10 and 10,000; eipd also 100,000), ~10 minutes
#   bench/compare.sh --big      # also eipd alone at 1,000,000 addresses (populate takes a few minutes)
#
# Options: -d SECONDS (measured per cell, default 5)  -w SECONDS (warm-up, default 1)
#          --no-moto (skip moto)  --out DIR (default target/bench/compare-<time>)
#          --no-build (use the binaries already in target/release)
# Everything listens on 127.0.0.1 only; every server this script starts is
# killed on exit. See bench/README.md for what each figure means.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

big=0 dur=5 warm=1 with_moto=1 build=1 out=
while [ $# -gt 0 ]; do
  case "$1" in
    --big) big=1; shift ;;
    -d) dur=$2; shift 2 ;;
    -w) warm=$2; shift 2 ;;
    --no-moto) with_moto=0; shift ;;
    --no-build) build=0; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
out=${out:-target/bench/compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
results=$out/results.jsonl
: >"$results"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- servers
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$build" = 1 ]; then
  log "building (release): eipd, eipd-loadgen, eipd-trivial-responder"
  nice cargo build --release --quiet -p eipd -p eipd-loadgen -p eipd-trivial-responder
fi
EIPD=$root/target/release/eipd
LOADGEN=$root/target/release/eipd-loadgen
RESPONDER=$root/target/release/eipd-trivial-responder

if [ "$with_moto" = 1 ] && [ ! -x bench/.venv-moto/bin/moto_server ]; then
  log "installing moto[server] into bench/.venv-moto"
  python3 -m venv bench/.venv-moto
  bench/.venv-moto/bin/pip install --quiet 'moto[server]'
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ns() { date +%s%N; }

# start_eipd NAME DATA_DIR [extra flags]: sets url, pid, ready_ms (process start -> `listening` line)
start_eipd() {
  local name=$1 data=$2; shift 2
  local stdout=$out/$name.stdout
  : >"$stdout"
  local t0; t0=$(now_ns)
  # Each stdout line is stamped when it is written, so the start-up time does not depend on polling.
  "$EIPD" serve --listen 127.0.0.1:0 --data-dir "$data" --address-limit 100000000 --pool 100.64.0.0/10 \
    --log-format text "$@" \
    > >(while IFS= read -r line; do echo "$(date +%s%N) $line"; done >>"$stdout") 2>>"$out/$name.stderr" &
  pid=$!
  pids+=("$pid")
  local i
  for i in $(seq 600); do
    grep -q listening "$stdout" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$out/$name.stderr" >&2; echo "eipd ($name) exited" >&2; exit 1; }
    sleep 0.05
  done
  local line; line=$(grep -m1 listening "$stdout") || { echo "eipd ($name) did not start in 30 s" >&2; exit 1; }
  url=$(grep -o 'http://[0-9.:]*' <<<"$line" | head -1)
  ready_ms=$(( (${line%% *} - t0) / 1000000 ))
}

start_moto() {
  local port; port=$(free_port)
  bench/.venv-moto/bin/moto_server -H 127.0.0.1 -p "$port" >"$out/moto.stdout" 2>"$out/moto.stderr" &
  pid=$!
  pids+=("$pid")
  url=http://127.0.0.1:$port
  local i
  for i in $(seq 300); do
    curl -s -o /dev/null "$url/moto-api/" && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$out/moto.stderr" >&2; echo "moto exited" >&2; exit 1; }
    sleep 0.1
  done
  echo "moto did not start in 30 s" >&2
  exit 1
}

start_responder() {
  "$RESPONDER" --listen 127.0.0.1:0 >"$out/responder.stdout" 2>"$out/responder.stderr" &
  pid=$!
  pids+=("$pid")
  local i
  for i in $(seq 100); do grep -q http "$out/responder.stdout" && break; sleep 0.05; done
  url=$(grep -o 'http://[0-9.:]*' "$out/responder.stdout" | head -1)
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------- load
# cell SERVER URL OP CONCURRENCY SIZE SCENARIO [loadgen flags]: one measurement, one JSON line in results.jsonl
cell() {
  local server=$1 url=$2 op=$3 c=$4 size=$5 scenario=$6; shift 6
  local line drain=45
  [[ " $* " == *" --drain "* ]] || set -- --drain "$drain" "$@"
  if ! line=$(nice -n 5 "$LOADGEN" --endpoint "$url" -c "$c" -d "$dur" -w "$warm" --timeout 60 \
      --json "$@" "$scenario" 2>>"$out/loadgen.stderr"); then
    log "  $server $op c=$c size=$size: eipd-loadgen failed (see $out/loadgen.stderr)"
    line='{"failed":true}'
  fi
  printf '{"server":"%s","op":"%s","c":%s,"size":%s,"result":%s}\n' "$server" "$op" "$c" "$size" "$line" >>"$results"
  log "  $server $op c=$c size=$size: $(tail -1 "$out/loadgen.stderr" | cut -c1-160)"
}

# populate SERVER URL IDS_FILE TARGET_SIZE CURRENT_SIZE
populate() {
  local server=$1 url=$2 ids=$3 want=$4 have=$5
  local n=$((want - have)) c=64
  [ "$server" = moto ] && c=16
  [ "$n" -gt 0 ] || return 0
  log "  $server: populate +$n (to $want)"
  local line
  line=$(nice -n 5 "$LOADGEN" --endpoint "$url" -c "$c" --json --ids "$ids" --count "$n" --tag-every 100 populate \
    2>>"$out/loadgen.stderr")
  printf '{"server":"%s","op":"populate","c":%s,"size":%s,"result":%s}\n' "$server" "$c" "$want" "$line" >>"$results"
}

# the operations of the table, at one store size (ops_fast and ops_slow)
ops_fast() {
  local server=$1 url=$2 size=$3 ids=$4 c
  for c in 1 16; do
    cell "$server" "$url" describe-by-id "$c" "$size" describe-by-id --ids "$ids"
    cell "$server" "$url" describe-filter-id "$c" "$size" describe-filter --filter allocation-id --ids "$ids"
    cell "$server" "$url" assoc-pair "$c" "$size" assoc-cycle
    cell "$server" "$url" release "$c" "$size" release
  done
  cell "$server" "$url" disassociate "1" "$size" disassociate-latency
  # last: they grow the store
  cell "$server" "$url" allocate 1 "$size" allocate
  cell "$server" "$url" allocate 16 "$size" allocate
}
# moto can need longer than a cell for these and keeps working on the requests the cell gave up on,
# so moto runs them on a server of their own (with a short drain): they cannot slow the other cells.
ops_slow() {
  local server=$1 url=$2 size=$3 ids=$4 c
  for c in 1 16; do
    cell "$server" "$url" describe-filter-tag "$c" "$size" describe-filter --filter tag --ids "$ids" "${@:5}"
    cell "$server" "$url" describe-all "$c" "$size" describe "${@:5}"
  done
}

extra() { printf '{"server":"%s","op":"%s","value":%s}\n' "$1" "$2" "$3" >>"$results"; }

started=$(date +%s)
log "results in $out"

# ---- the machine's limit
start_responder
log "trivial responder at $url"
for c in 1 16; do cell trivial "$url" request "$c" 0 raw; done
stop "$pid"

# ---- eipd (embedded store, fresh data directory per store size)
for size in 10 10000; do
  data=$out/eipd-data-$size
  rm -rf "$data"
  start_eipd "eipd-$size" "$data"
  log "eipd at $url (store $size)"
  populate eipd "$url" "$out/eipd-ids-$size.tsv" "$size" 0
  ops_slow eipd "$url" "$size" "$out/eipd-ids-$size.tsv"
  ops_fast eipd "$url" "$size" "$out/eipd-ids-$size.tsv"
  if [ "$size" = 10 ]; then
    # strict mode: real SigV4 signatures, verified
    creds=$out/credentials.toml
    printf '[[user]]\nname = "bench"\naccess_key_id = "123456789012"\nsecret_access_key = "eipd-bench-secret"\naccount_id = "123456789012"\n' >"$creds"
    stop "$pid"
    start_eipd "eipd-strict" "$data" --auth strict --credentials "$creds"
    log "eipd --auth strict at $url"
    cell eipd-strict "$url" describe-by-id 16 "$size" describe-by-id --ids "$out/eipd-ids-$size.tsv" --sign
    cell eipd-strict "$url" assoc-pair 16 "$size" assoc-cycle --sign
    cell eipd-strict "$url" allocate 16 "$size" allocate --sign
  fi
  stop "$pid"
done

# ---- eipd: the curve (DisassociateAddress and filtered DescribeAddresses against store size), RSS, restart
curve=(100000)
[ "$big" = 1 ] && curve+=(1000000)
data=$out/eipd-data-curve
rm -rf "$data"
start_eipd eipd-curve "$data"
have=0
for size in "${curve[@]}"; do
  populate eipd "$url" "$out/eipd-ids-curve.tsv" "$size" "$have"
  have=$size
  cell eipd "$url" disassociate 1 "$size" disassociate-latency
  for c in 1 16; do
    cell eipd "$url" describe-by-id "$c" "$size" describe-by-id --ids "$out/eipd-ids-curve.tsv"
    cell eipd "$url" describe-filter-id "$c" "$size" describe-filter --filter allocation-id --ids "$out/eipd-ids-curve.tsv"
    cell eipd "$url" describe-filter-tag "$c" "$size" describe-filter --filter tag --ids "$out/eipd-ids-curve.tsv"
  done
  cell eipd "$url" assoc-pair 16 "$size" assoc-cycle
done
largest=${curve[-1]}
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
extra eipd rss "{\"size\":$largest,\"vmhwm_kib\":$hwm}"
stop "$pid"
start_eipd eipd-restart "$data"
extra eipd restart "{\"size\":$largest,\"ready_ms\":$ready_ms,\"store_bytes\":$(stat -c %s "$data/eipd.redb")}"
log "eipd restart with $largest addresses: ${ready_ms} ms to listening; peak RSS before: ${hwm} KiB"
stop "$pid"

# ---- the machine's limit again: the machine is noisy, so eipd's percentages
# use the better of the two trivial measurements (the conservative baseline)
start_responder
for c in 1 16; do cell trivial-end "$url" request "$c" 0 raw; done
stop "$pid"

# ---- moto (fresh process per store size)
if [ "$with_moto" = 1 ]; then
  for size in 10 10000; do
    start_moto
    log "moto at $url (store $size)"
    populate moto "$url" "$out/moto-ids-$size.tsv" "$size" 0
    ops_fast moto "$url" "$size" "$out/moto-ids-$size.tsv"
    stop "$pid"
    start_moto
    log "moto at $url (store $size, tag filter and unfiltered Describe)"
    populate moto "$url" "$out/moto-ids-slow-$size.tsv" "$size" 0
    ops_slow moto "$url" "$size" "$out/moto-ids-slow-$size.tsv" --drain 5
    stop "$pid"
  done
fi

extra all elapsed "$(( $(date +%s) - started ))"
python3 - "$results" <<'PY' | tee "$out/table.txt"
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
KIND = {"allocate": "allocate", "release": "release", "assoc-pair": "pair", "disassociate": "disassociate",
        "describe-all": "describe", "describe-by-id": "describe-by-id", "describe-filter-id": "describe-filter",
        "describe-filter-tag": "describe-filter", "request": "request"}
LABEL = {"allocate": "AllocateAddress", "release": "ReleaseAddress (after an Allocate)",
         "assoc-pair": "Associate+Disassociate pair", "disassociate": "DisassociateAddress",
         "describe-all": "DescribeAddresses (no filter)", "describe-by-id": "DescribeAddresses AllocationId.1",
         "describe-filter-id": "DescribeAddresses filter allocation-id", "describe-filter-tag": "DescribeAddresses filter tag:KEY"}
cells = {}
for r in rows:
    if "result" in r:
        cells[(r["server"], r["op"], r["c"], r["size"])] = r["result"]

def stat(server, op, c, size):
    res = cells.get((server, op, c, size))
    if not res or res.get("failed"):
        return None
    o = res.get("ops", {}).get(KIND.get(op, op))
    if not o or not o["n"]:
        # nothing completed within the window: fewer than 1 per window
        return {"rps": 0.0, "lt": 1 / res.get("window_s", 1), "p50": None, "p99": None, "n": 0,
                "err": sum(res.get("errors", {}).values()), "req": 0.0, "errors": res.get("errors", {}),
                "first": res.get("first_error")}
    # every request, for the comparison with the trivial responder (a pair is 2 requests)
    req = sum(v["rps"] for k, v in res["ops"].items() if k != "pair")
    return {"rps": o["rps"], "p50": o["p50_ms"], "p99": o["p99_ms"], "n": o["n"], "err": sum(res.get("errors", {}).values()),
            "req": req, "errors": res.get("errors", {}), "first": res.get("first_error")}

def f_rps(x, s=None):
    if s is not None and s.get("lt"): return f"<{s['lt']:.1f}"
    if x is None: return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"
def f_ms(x):
    if x is None: return "-"
    return f"{x:.3f}" if x < 10 else f"{x:,.0f}" if x >= 1000 else f"{x:.1f}"
def f_size(n):
    return {10: "10", 10000: "10k", 100000: "100k", 1000000: "1M"}.get(n, str(n))

# the better of the trivial responder's runs (before and after eipd's cells)
triv = {c: max((t for t in (stat("trivial", "request", c, 0), stat("trivial-end", "request", c, 0)) if t),
               key=lambda t: t["rps"], default=None) for c in (1, 16)}
order = ["allocate", "release", "assoc-pair", "disassociate", "describe-all", "describe-by-id", "describe-filter-id", "describe-filter-tag"]
sizes = sorted({k[3] for k in cells if k[0] == "eipd"})
hdr = ["operation", "c", "store", "eipd req/s", "p50 ms", "p99 ms", "moto req/s", "p50 ms", "p99 ms", "eipd/moto", "% trivial"]
table = []
for op in order:
    for c in (1, 16):
        for size in sizes:
            e, m = stat("eipd", op, c, size), stat("moto", op, c, size)
            if e is None and m is None:
                continue
            ratio = "-"
            if e and m and m["rps"] > 0:
                ratio = f"{e['rps'] / m['rps']:,.0f}x"
            elif e and m and m.get("lt"):
                ratio = f">{e['rps'] / m['lt']:,.0f}x"
            t = triv.get(c)
            pct = f"{100 * e['req'] / t['rps']:.0f}%" if e and t and t["rps"] > 0 else "-"
            table.append([LABEL[op], str(c), f_size(size),
                          f_rps(e and e["rps"]), f_ms(e and e["p50"]), f_ms(e and e["p99"]),
                          f_rps(m and m["rps"], m), f_ms(m and m["p50"]), f_ms(m and m["p99"]), ratio, pct])
w = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(hdr)]
line = lambda r: "| " + " | ".join(x.ljust(w[i]) if i == 0 else x.rjust(w[i]) for i, x in enumerate(r)) + " |"
print(line(hdr))
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in table:
    print(line(r))
print()
print("req/s: operations per second (pairs/s for the pair row, releases/s for ReleaseAddress); p50/p99 of that operation;")
print("% trivial: every request eipd answered per second (a pair is 2, a release cycle is 2) / the trivial responder's req/s at the same c")
print("(measured before and after eipd's cells; the better of the two).")
print()
for c in (1, 16):
    t = triv.get(c)
    if t:
        runs = " / ".join(f_rps(r["rps"]) for r in (stat("trivial", "request", c, 0), stat("trivial-end", "request", c, 0)) if r)
        print(f"trivial responder c={c}: {f_rps(t['rps'])} req/s (the better of {runs}), p50 {f_ms(t['p50'])} ms, p99 {f_ms(t['p99'])} ms")
for op in ("describe-by-id", "assoc-pair", "allocate"):
    s = stat("eipd-strict", op, 16, 10)
    if s:
        o = stat("eipd", op, 16, 10)
        rel = f" ({100 * s['rps'] / o['rps']:.0f}% of open mode)" if o and o["rps"] else ""
        print(f"eipd --auth strict, signed, c=16, {LABEL[op]}: {f_rps(s['rps'])}/s p50 {f_ms(s['p50'])} ms p99 {f_ms(s['p99'])} ms{rel}")
print()
print("Latency against store size (eipd; moto where measured), p50 ms at c=1:")
for op in ("disassociate", "describe-filter-id", "describe-filter-tag", "describe-by-id"):
    pts = [(n, stat("eipd", op, 1, n)) for n in sizes]
    pts = [(n, s) for n, s in pts if s and s["n"]]
    if not pts:
        continue
    p50s = [s["p50"] for _, s in pts]
    spread = f"  (max/min {max(p50s) / min(p50s):.2f}x)" if min(p50s) > 0 else ""
    print(f"  {LABEL[op]:42} eipd " + " -> ".join(f"{f_size(n)}: {f_ms(s['p50'])}" for n, s in pts) + spread)
    mp = [(n, stat("moto", op, 1, n)) for n in sizes]
    mp = [(n, s) for n, s in mp if s and s["n"]]
    if mp:
        print(f"  {'':42} moto " + " -> ".join(f"{f_size(n)}: {f_ms(s['p50'])}" for n, s in mp))
print()
for r in rows:
    if r.get("op") == "populate":
        res = r["result"]
        print(f"populate {r['server']} to {f_size(r['size'])}: {res.get('allocated')} AllocateAddress (1 in 100 tagged) in {res.get('seconds')} s"
              f" = {f_rps(res.get('rps'))}/s at c={r['c']}, p99 {f_ms(res.get('ops', {}).get('allocate', {}).get('p99_ms'))} ms")
for r in rows:
    if r.get("op") == "rss":
        v = r["value"]
        print(f"eipd peak RSS (VmHWM) with {f_size(v['size'])} addresses (1 in 100 tagged): {v['vmhwm_kib'] / 1024:.0f} MiB"
              f" = {v['vmhwm_kib'] * 1024 / v['size']:.0f} bytes per address (whole process)")
    if r.get("op") == "restart":
        v = r["value"]
        print(f"eipd restart with {f_size(v['size'])} addresses (embedded store, {v['store_bytes'] / 2**20:.0f} MiB file):"
              f" {v['ready_ms']} ms from process start to the listening line")
    if r.get("op") == "elapsed":
        print(f"whole run: {r['value']} s")
bad = [(k, v) for k, v in cells.items() if v.get("failed") or v.get("errors")]
if bad:
    print()
    print("Errors:")
    for (server, op, c, size), v in bad:
        print(f"  {server} {op} c={c} store={f_size(size)}: {v.get('errors') or 'eipd-loadgen failed'} {(v.get('first_error') or '')[:200]}")
PY
log "raw results: $results"
