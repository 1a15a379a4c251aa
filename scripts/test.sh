#!/usr/bin/env bash
# Install everything (system programs, the package, dev tools), then the gates: the linter (ruff, rules in
# pyproject.toml), the type checker (mypy, the whole package) and the test suite. Extra arguments go to pytest,
# e.g. scripts/test.sh tests/unit -x
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/bootstrap.sh" --dev
cd "$root"
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
