#!/usr/bin/env bash
# Every figure BENCHMARKS.md reports, in one go, for a QUIET machine (nothing else running: no
# test suite, no other benchmark, no browser). About 20 minutes on 2 cores.
#
#     benchmarks/run_quiet.sh                 # results in benchmarks/results/quiet-<UTC time>.txt
#     benchmarks/run_quiet.sh --dry-run       # print the steps, run nothing
#
# Each step prints the load average before and after it; competing variants are interleaved
# inside each benchmark (bare / ApiUser / ApiUser status-only; bare / use_stresskit; wrk / Locust;
# plain Selenium / PageProcessorUser page by page), and the 20-hour report runs in three
# separate sessions spread over the script (start, middle, end). A figure is a goal measurement
# only if the load average stayed near the machine's own load (about 1 on 2 cores) throughout:
# the script warns when it starts above 1.5. Copy the figures into BENCHMARKS.md with the
# load averages printed here.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
mkdir -p benchmarks/results
OUT="benchmarks/results/quiet-$(date -u +%Y%m%dT%H%M%SZ).txt"
[[ $DRY == 1 ]] && OUT=/dev/null

log() { echo "$*" | tee -a "$OUT"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

step() {  # step "title" command...
    local title="$1"; shift
    log ""
    log "=== $title"
    log "\$ $*"
    if [[ $DRY == 1 ]]; then return 0; fi
    log "load average before: $(loadavg)"
    local t0=$SECONDS
    "$@" 2>&1 | tee -a "$OUT"
    local rc=${PIPESTATUS[0]}
    log "load average after: $(loadavg) ($((SECONDS - t0)) s, exit $rc)"
}

log "stresskit quiet-machine benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
log "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB," \
    "$(uname -sr), $("$PY" -c 'import platform, locust; print("Python", platform.python_version(), "locust", locust.__version__)')"
first=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$first" 'BEGIN{exit !(l > 1.5)}'; then
    log "WARNING: load average $first at the start: the machine is not quiet; these are NOT goal measurements"
fi

# The 20-hour report data is generated once (cached in /tmp/stresskit-bench-report) before any timing.
step "report data (generated once, not timed)" "$PY" benchmarks/bench_report.py --repeats 1
step "20-hour report, session 1 of 3 (goal: <= 3 s wall, <= 1 GiB peak RSS)" \
    "$PY" benchmarks/bench_report.py --repeats 3
step "ApiUser vs bare FastHttpUser (goal: >= 0.97 in req/s and req per CPU-second, both modes)" \
    "$PY" benchmarks/bench_api_user.py --seconds 10 --repeat 5
step "stresskit's own cost: with and without use_stresskit (goal: >= 0.97), per-listener CPU" \
    "$PY" benchmarks/bench_stresskit_cost.py --seconds 10 --repeat 5
step "reference target next to its load generator (wrk vs Locust)" \
    "$PY" benchmarks/bench_target.py --seconds 5 --repeat 2
step "20-hour report, session 2 of 3" "$PY" benchmarks/bench_report.py --repeats 3
step "one worker holding 5,000 WebSocket connections" "$PY" benchmarks/bench_ws_connections.py
step "PageProcessorUser vs a plain Selenium loop (goal: <= 5% per page)" \
    "$PY" benchmarks/bench_page_processor.py --rounds 2 --pages 30
step "the resource agent's own cost (goal: < 2% of a core, flat RSS), 3 minutes" \
    "$PY" benchmarks/bench_agent.py --minutes 3
step "open-model arrival rate, one process and master + 2 workers" \
    "$PY" benchmarks/bench_arrival.py --rate 1000 --seconds 20 --max-users 100
step "leak verdict: detection and false alarms (load-independent; for completeness)" \
    "$PY" benchmarks/bench_leak.py --trials 200 --sweep 1.5,2
step "20-hour report, session 3 of 3" "$PY" benchmarks/bench_report.py --repeats 3 --phases

log ""
log "done; results in $OUT"
