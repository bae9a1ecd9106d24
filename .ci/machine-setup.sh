#!/usr/bin/env bash
# What the test suite needs on this machine, installed if missing (idempotent, fast when
# everything is there): git, make, gcc (the bisection's end-to-end test), chromium (the HTML
# report is rendered headless), tmux (`harness top` is checked in a real terminal), the agent
# CLIs the conformance tests run (.ci/agents-setup.sh), and a running Docker engine with the
# Debian base image (.ci/docker-setup.sh). `make test` runs this first, so the README's
# second command works on a fresh Debian machine; CI runs `make test` through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

missing=()
for pkg in git make gcc python3-venv chromium tmux; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "machine-setup: missing Debian packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "machine-setup: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bash .ci/agents-setup.sh
bash .ci/docker-setup.sh
