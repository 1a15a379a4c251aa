#!/usr/bin/env bash
# Install the system programs stresskit drives, if they are missing: chromium, chromedriver,
# redis-server, plus python3-venv and iproute2 (network-namespace tests), wrk (benchmarks) and
# prometheus (the live-metrics test).
# Idempotent: does nothing when everything is present. Never downloads a browser or driver
# from anywhere but the distribution's package manager.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have chromium || have chromium-browser || have google-chrome || need+=(chromium)
have chromedriver || need+=(chromium-driver)
have redis-server || need+=(redis-server)
have ip || need+=(iproute2)
have wrk || need+=(wrk)
have curl || need+=(curl)
have prometheus || need+=(prometheus)  # the e2e test of the live metrics starts its own on a free port
python_bin="${PYTHON:-python3}"
if ! have "$python_bin"; then
  need+=(python3 python3-venv python3-pip)
elif ! "$python_bin" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need+=(python3-venv)
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "install-system-deps: chromium, chromedriver, redis-server, iproute2, wrk, prometheus: all present"
  exit 0
fi

if ! have apt-get; then
  echo "install-system-deps: missing: ${need[*]}. This script knows Debian/Ubuntu only; install them with" >&2
  echo "your package manager (e.g. 'dnf install chromium chromedriver redis iproute wrk' or" >&2
  echo "'brew install --cask chromium && brew install chromedriver redis wrk'), or point" >&2
  echo "STRESSKIT_CHROME / STRESSKIT_CHROMEDRIVER / STRESSKIT_REDIS_SERVER at existing binaries." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if have sudo; then sudo="sudo"; else
    echo "install-system-deps: missing ${need[*]} and not root (no sudo): run as root: apt-get install ${need[*]}" >&2
    exit 1
  fi
fi

echo "install-system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# On Ubuntu 'chromium' is a snap wrapper; chromium-browser/chromium-chromedriver are the debs there.
if ! $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"; then
  echo "install-system-deps: apt-get could not install: ${need[*]}" >&2
  exit 1
fi
# redis-server's package starts a system service; stresskit starts its own on free ports.
# prometheus's package does too (scraping :9090 from then on): stop and disable it where systemd runs;
# the tests never rely on it and start their own prometheus on a free loopback port.
for service in prometheus prometheus-node-exporter; do
  if [[ " ${need[*]} " == *" prometheus "* ]] && have systemctl && systemctl is-enabled "$service" >/dev/null 2>&1; then
    $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done
echo "install-system-deps: done"
