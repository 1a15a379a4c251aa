#!/usr/bin/env bash
# Install everything, then run locustfiles/production.py headless for about a minute (the light
# scenario at time scale 0.07) against the demo target and Redis, started on loopback for the
# run; then turn the run's files into a report and print where everything is.
# Extra arguments go to locust, e.g. scripts/demo.sh --scenario medium --time-scale 0.02
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
out="runs/demo-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
# The resource agent watches this machine (the demo target is started by locust on loopback).
export STRESSKIT_AGENT_TOKEN="demo-$(date +%s%N)"
.venv/bin/stresskit agent --port 0 --ready-file "$out/agent.json" --cmdline 'stresskit target' \
  --log-level WARNING >"$out/agent.log" 2>&1 &
agent_pid=$!
trap 'kill "$agent_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$out/agent.json" ] && break; sleep 0.1; done
agent_url=$(.venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$out/agent.json")

echo "demo: running locust -f locustfiles/production.py --headless (light scenario, about a minute; files in $out/)"
set +e
.venv/bin/locust -f locustfiles/production.py --headless --scenario light --time-scale 0.07 --pages 160 --end-on-quota \
  --agent "$agent_url" --csv "$out/run" --csv-full-history --html "$out/run.html" \
  --logfile "$out/locust.log" --only-summary "$@"
code=$?
set -e
if [ -s "$out/run_stats.csv" ]; then
  echo
  .venv/bin/stresskit report "$out/run" || true
fi
echo
echo "demo: locust exited with code $code (0 = every criterion passed; see docs/runbook.md); the run's files:"
ls -1 "$out" | sed "s|^|  $out/|"
exit $code
