"""``harness hooks install``: the pre-receive gate on the bare upstream.

The hook is a short sh script. It decides lock-only pushes (only ``current_tasks/``
changed) itself, with one ``git diff-tree`` whose listing the shell reads, and no Python
start-up, so claims cost about what an unhooked push costs. It also lets through, the same
way, a push to a main whose harness.yaml configures neither ``tests:`` nor ``gate:`` when
the push leaves harness.yaml alone (one ``git grep`` more): there is nothing to test and
nothing protected. Any other update of the gated branch is handed, with the same stdin, to
``harness gate --pre-receive`` run by the Python recorded at install time.
Other refs (heartbeats, orphans, parked work) pass untouched.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from harness.errors import HarnessError

MARKER = "# harness pre-receive gate"

_TEMPLATE = """\
#!/bin/sh
{marker} (installed by `harness hooks install`; re-run it to update, do not edit)
target={target}
zero=0000000000000000000000000000000000000000
input=
need=
while read -r old new ref; do
  input="$input$old $new $ref
"
  [ -z "$need" ] && [ "$ref" = "$target" ] || continue
  if [ "$old" = "$zero" ] || [ "$new" = "$zero" ]; then need=1; continue; fi
  # One listing of the changed paths decides, read by the shell itself (no grep processes).
  changed=$(git diff-tree -r --no-renames --name-only "$old" "$new") || {{ need=1; continue; }}
  work=
  while IFS= read -r path; do
    case $path in
      '') ;;
      current_tasks/*) ;;
      harness.yaml) need=1 ;;
      *) work=1 ;;
    esac
  done <<LISTING
$changed
LISTING
  # Lock-only (no change outside current_tasks/) passes. So does work when the old tip
  # configures no tests and no gate: then only harness.yaml is protected, and a change to
  # it was caught above.
  [ -z "$need" ] && [ -n "$work" ] || continue
  git grep -qE '^(tests|gate):' "$old" -- harness.yaml && need=1
done
[ -n "$need" ] || exit 0
printf '%s' "$input" | exec {python} -m harness gate --pre-receive --branch {branch}
"""


def hook_script(branch: str, python: str) -> str:
    return _TEMPLATE.format(
        marker=MARKER,
        target=shlex.quote(f"refs/heads/{branch}"),
        branch=shlex.quote(branch),
        python=shlex.quote(python),
    )


def install_hooks(upstream: Path, branch: str = "main", python: str | None = None, force: bool = False) -> Path:
    """Write ``upstream/hooks/pre-receive``; refuse to replace a hook that is not ours."""
    if not (upstream / "HEAD").exists() or not (upstream / "objects").is_dir():
        raise HarnessError(f"{upstream}: not a bare git repository; pass --upstream PATH/TO/UPSTREAM.git")
    hook = upstream / "hooks" / "pre-receive"
    if hook.exists() and MARKER not in hook.read_text(encoding="utf-8", errors="replace") and not force:
        raise HarnessError(
            f"{hook}: a pre-receive hook that harness did not write exists; move it away or pass --force"
        )
    hook.parent.mkdir(exist_ok=True)
    tmp = hook.with_name(".pre-receive.tmp")
    tmp.write_text(hook_script(branch, python or sys.executable), encoding="utf-8")
    tmp.chmod(0o755)
    tmp.replace(hook)
    return hook
