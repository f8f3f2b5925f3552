#!/usr/bin/env bash
# PostgreSQL failover under load (issue 16): 5 kills -9 of the primary, each
# followed at once by the promotion of its synchronous standby and a new
# standby on the dead server's port; two eipd nodes on the multi-host URL,
# 8 boto3 clients allocating, associating, disassociating and releasing.
# This is tests/py/test_failover.py with EIPD_FAILOVER_KILLS=5 (it asserts 0
# acknowledged writes lost, no request without an answer within 10 s, the
# nodes' and a new node's views equal); this script prints its figures.
# Usage: bench/failover.sh [KILLS]   (default 5; needs Debian's postgresql)
# Uses $EIPD_BIN when set, else builds target/release/eipd.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-5}
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || { echo "bench/failover.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
if [ -z "${EIPD_BIN:-}" ]; then
  cargo build --release --quiet -p eipd
  export EIPD_BIN="$PWD/target/release/eipd"
fi
venv=${EIPD_VENV:-.venv}
if [ ! -x "$venv/bin/pytest" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/py/requirements.txt
fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
EIPD_FAILOVER_KILLS=$kills EIPD_FAILOVER_REPORT=$report "$venv/bin/pytest" -q -p no:cacheprovider \
  tests/py/test_failover.py >"$report.log" 2>&1 || status=$?
if [ ! -s "$report" ]; then
  cat "$report.log" >&2; rm -f "$report.log"
  echo "bench/failover.sh: the failover test ended before its figures (exit $status)" >&2
  exit 1
fi
[ "$status" = 0 ] || { grep -E '^E ' "$report.log" | head -20 >&2; echo "bench/failover.sh: the failover test FAILED (figures below)" >&2; }
rm -f "$report.log"
echo "PostgreSQL failover, $kills kills under load, 2 eipd nodes, 8 clients, eipd: $EIPD_BIN"
python3 - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("| kill | writes acknowledged since the previous kill | lost | failed requests (503) | outage s (first 503 → next write acknowledged) | kill → first write acknowledged s | promote s | new standby in sync s |")
print("|------|------|------|------|------|------|------|------|")
for i, k in enumerate(r["kills"], 1):
    print(f"| {i} | {k['acknowledged']} | {k['lost']} | {k['failed_requests']} | {k['write_outage']:.2f} | "
          f"{k['kill_to_write']:.2f} | {k['promoted']:.2f} | {k['standby_added']:.2f} |")
longest = max(k["write_outage"] for k in r["kills"])
print(f"| all | {r['acknowledged']} (whole run) | {r['lost']} | {sum(k['failed_requests'] for k in r['kills'])} | "
      f"{longest:.2f} (longest) | | | |")
print(f"{r['requests']} requests, the slowest answered in {r['longest_request']:.2f} s; "
      f"{r['unanswered_writes']} writes answered 503, of which {r['unanswered_writes_applied']} took effect "
      "(committed and replicated, the answer lost with the primary)")
PY
exit "$status"
