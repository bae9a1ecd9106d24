#!/usr/bin/env bash
# The real agent CLIs that tests/test_conformance_*.py run against a scripted model server,
# pinned to versions known to work, each in a prefix of its own (never on the system's PATH):
#   $HARNESS_AGENTS_PREFIX/npm         Claude Code, Codex, Gemini CLI (npm; Node 20 or later)
#   $HARNESS_AGENTS_PREFIX/aider-venv  Aider (PyPI, in its own venv: it pins ~100 packages)
# Idempotent and fast when they are there (a version check, no network). A CLI that cannot be
# installed is reported here and its conformance tests fail with the reason: they never skip.
set -uo pipefail
PREFIX="${HARNESS_AGENTS_PREFIX:-/opt/harness-agents}"
NPM_PACKAGES=("@anthropic-ai/claude-code@2.1.332" "@openai/codex@0.171.0" "@google/gemini-cli@0.61.0")
AIDER_VERSION=0.86.2
status=0

npm_installed() {  # the version of npm package $1 under $PREFIX/npm, or nothing
  local manifest="$PREFIX/npm/node_modules/$1/package.json"
  [ -f "$manifest" ] && sed -n 's/^  "version": "\(.*\)",$/\1/p' "$manifest"
}

missing=()
for spec in "${NPM_PACKAGES[@]}"; do
  name="${spec%@*}" version="${spec##*@}"
  [ "$(npm_installed "$name")" = "$version" ] || missing+=("$spec")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "agents-setup: npm is not installed, so ${missing[*]} cannot be; install Node 20+ with npm" >&2
    status=1
  else
    echo "agents-setup: installing ${missing[*]} into $PREFIX/npm"
    mkdir -p "$PREFIX/npm"
    if ! npm install --prefix "$PREFIX/npm" --no-audit --no-fund --loglevel=error "${missing[@]}" >"$PREFIX/npm.log" 2>&1; then
      echo "agents-setup: npm install failed; last lines of $PREFIX/npm.log:" >&2
      tail -n 20 "$PREFIX/npm.log" >&2
      status=1
    fi
  fi
fi

venv="$PREFIX/aider-venv"
if ! compgen -G "$venv/lib/python3*/site-packages/aider_chat-$AIDER_VERSION.dist-info" >/dev/null; then
  echo "agents-setup: installing aider-chat==$AIDER_VERSION into $venv"
  mkdir -p "$PREFIX"
  if ! { python3 -m venv --clear "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "aider-chat==$AIDER_VERSION"; } >"$PREFIX/aider.log" 2>&1; then
    echo "agents-setup: installing Aider failed (it needs Python 3.10-3.12); last lines of $PREFIX/aider.log:" >&2
    grep -v "^WARNING: Location" "$PREFIX/aider.log" | tail -n 20 >&2
    status=1
  fi
fi
# A failed install is not the suite's failure to hide: report it, and let the tests say which.
[ "$status" -eq 0 ] || echo "agents-setup: some agent CLIs are missing; their conformance tests will fail" >&2
exit 0
