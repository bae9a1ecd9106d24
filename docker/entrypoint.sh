#!/bin/bash
# Container entrypoint: make the fresh clone at /workspace, then run the loop (or the given command).
#
#   harness-entrypoint                      -> harness loop --role $HARNESS_ROLE ...
#   harness-entrypoint --max-iterations 3   -> the same, with these extra loop options
#   harness-entrypoint CMD ARGS...          -> CMD ARGS (diagnostics, tests)
set -euo pipefail

: "${HARNESS_AGENT:?HARNESS_AGENT is not set (harness up sets it)}"
: "${HARNESS_ROLE:?HARNESS_ROLE is not set (harness up sets it)}"
if [ ! -e /upstream/HEAD ]; then
  echo "ERROR: /upstream is not a git repository; harness up mounts the bare upstream there" >&2
  exit 1
fi

# The upstream's gate hooks name the host's python (harness hooks install writes an absolute
# path). Pushes from in here run those hooks in this container: give that path our harness.
# (The hook runs it as `PYTHON -I -m harness gate`; older hooks without -I too.)
hook_python=$(sed -n 's/.*exec \(\/[^ ]*\) \(-I \)\{0,1\}-m harness gate.*/\1/p' /upstream/hooks/pre-receive /upstream/hooks/pre-push 2>/dev/null | head -n 1 || true)
if [ -n "$hook_python" ] && [ ! -e "$hook_python" ]; then
  mkdir -p "$(dirname "$hook_python")"
  # A wrapper, not a symlink: python finds its venv from the path it was started by.
  printf '#!/bin/sh\nexec /opt/harness/bin/python3 "$@"\n' > "$hook_python"
  chmod 0755 "$hook_python"
fi

if [ ! -d /workspace/.git ]; then
  git clone --quiet /upstream /workspace.new
  # /workspace is the WORKDIR (it exists, empty): move the clone's contents in.
  shopt -s dotglob
  mv /workspace.new/* /workspace/
  rmdir /workspace.new
  git -C /workspace config user.name "$HARNESS_AGENT"
  git -C /workspace config user.email "$HARNESS_AGENT@harness.invalid"
  # Peer snapshots land in .shared/: never part of the agent's commits.
  echo ".shared/" >> /workspace/.git/info/exclude
  mkdir -p /workspace/.shared
  chown -R agent:agent /workspace
fi

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi
backend=()
if [ -n "${HARNESS_BACKEND:-}" ]; then backend=(--backend "$HARNESS_BACKEND"); fi
exec harness loop --repo /workspace --agent "$HARNESS_AGENT" --role "$HARNESS_ROLE" "${backend[@]}" "$@"
