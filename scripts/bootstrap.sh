#!/usr/bin/env bash
# Set up everything stresskit needs on this machine: system programs (via
# install-system-deps.sh) and a virtual environment in .venv with stresskit installed.
# Usage: scripts/bootstrap.sh [--dev]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

"$root/scripts/install-system-deps.sh"

python_bin="${PYTHON:-python3}"
if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: stresskit needs Python 3.11 or newer; $python_bin is $("$python_bin" -V 2>&1). Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $("$python_bin" -V 2>&1)"
  "$python_bin" -m venv .venv
fi
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
echo "bootstrap: installing stresskit$extra into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extra" 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import stresskit, locust' || { echo "bootstrap: installation failed" >&2; exit 1; }
