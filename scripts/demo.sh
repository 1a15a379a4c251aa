#!/usr/bin/env bash
# Install everything, then run locustfiles/production.py headless for about a minute against the
# demo target and Redis, started on loopback for the run, and print where the run's files are.
# Extra arguments go to locust, e.g. scripts/demo.sh --run-time 5m
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
out="runs/demo-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
echo "demo: running locust -f locustfiles/production.py --headless for about a minute (files in $out/)"
set +e
.venv/bin/locust -f locustfiles/production.py --headless --users 10 --spawn-rate 5 --run-time 1m \
  --csv "$out/run" --csv-full-history --html "$out/run.html" --logfile "$out/locust.log" --only-summary "$@"
code=$?
set -e
echo
echo "demo: locust exited with code $code; the run's files:"
ls -1 "$out" | sed "s|^|  $out/|"
exit $code
