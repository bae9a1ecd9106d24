#!/usr/bin/env bash
# Docker for the fleet tests (issue 5), idempotent: install docker.io and debootstrap if
# missing, start dockerd in the background if no engine answers (and wait for it), and make
# the Debian base image with `harness image base` if it is missing. No image registry is
# needed: the base comes from debootstrap + docker import, the agent image is built by the
# tests themselves (tests/docker_support.py) from wheels fetched on this host.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
BASE_IMAGE="${HARNESS_BASE_IMAGE:-harness-base:bookworm}"

missing=()
for pkg in docker.io debootstrap; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "docker-setup: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "docker-setup: starting dockerd"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    echo "docker-setup: dockerd did not come up; last lines of /tmp/dockerd.log:" >&2
    tail -n 20 /tmp/dockerd.log >&2
    exit 1
  fi
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "docker-setup: building $BASE_IMAGE with debootstrap (a minute or two)"
  if [ -x .venv/bin/harness ]; then
    .venv/bin/harness image base --tag "$BASE_IMAGE"
  else
    # Before `make test` has made the venv: the same steps as harness/runtime/image.py::build_base.
    root=$(mktemp -d)
    # The Debian archive apt already uses on this machine (no host is hard-coded here).
    mirror=$( { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; } |
      awk '($1 == "URIs:" || $1 == "deb") && $2 ~ /\/debian\/?$/ {print $2; exit}')
    debootstrap --variant=minbase --include=python3,python3-venv,git,ca-certificates,tini,procps \
      bookworm "$root/rootfs" "$mirror" >/dev/null
    tar -C "$root/rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"
  fi
fi
docker image inspect "$BASE_IMAGE" --format "docker-setup: base image $BASE_IMAGE ready ({{.Size}} bytes)"
