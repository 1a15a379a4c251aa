#!/usr/bin/env bash
# Install everything (system programs, the package, dev tools), then the gates: the linter (ruff, rules in
# pyproject.toml), the type checker (mypy, the whole package) and the test suite.
#
# With no arguments the suite runs as two pytest processes at once, each with one of two groups of about
# equal time (pytest-split, contiguous chunks of the collection order, from the durations recorded in
# tests/.test_durations; a test not recorded there counts as the average). The suite mostly waits on real
# servers, browsers and Locust processes (about a third of one core busy on average), so two groups on
# 2 cores take a little more than half the time of one. Each output line is prefixed with its group; the
# script fails when either group fails. Refresh the durations after adding slow tests:
#     .venv/bin/python -m pytest --store-durations --durations-path tests/.test_durations
# Extra arguments go to a single pytest process instead, e.g. scripts/test.sh tests/unit -x
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/bootstrap.sh" --dev
cd "$root"
.venv/bin/ruff check .
.venv/bin/mypy
if (( $# )); then
    exec .venv/bin/python -m pytest "$@"
fi

split=(--splits 2 --splitting-algorithm duration_based_chunks --durations-path tests/.test_durations)
pids=()
stop_groups() { kill "${pids[@]}" 2>/dev/null || true; }  # only the two groups this script started
trap stop_groups INT TERM
for group in 1 2; do
    .venv/bin/python -m pytest "${split[@]}" --group "$group" > >(sed -u "s/^/[group $group] /") 2>&1 &
    pids+=("$!")
done
status=()
for pid in "${pids[@]}"; do
    if wait "$pid"; then status+=(0); else status+=($?); fi
done
wait  # the prefixing sed processes: their last lines
echo "test groups: 1 exited ${status[0]}, 2 exited ${status[1]}"
(( status[0] == 0 && status[1] == 0 ))
