"""``harness hooks install``: the pre-receive gate on the bare upstream.

The hook is a short sh script. It decides one thing itself, from the pushed paths only:
a lock-only update of the gated branch (a fast-forward whose every changed path is a plain
``current_tasks/<name>.lock`` or ``current_tasks/README.md``) passes with one ``git
merge-base`` and one ``git diff-tree``, and no Python start-up, so claims cost about what an
unhooked push costs. It never reads harness.yaml: any other update of the gated branch is
handed, with the same stdin, to ``harness gate --pre-receive`` run by the Python recorded at
install time, which parses the config with config.py (one parser decides) and judges the
push (judge.py). Other refs (heartbeats, orphans, parked work) pass untouched.

Install also sets ``receive.denyNonFastForwards`` on the upstream: main only moves forward,
even for a forced push, and even where the hook is not reached.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.git.repo import GitRepo

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
  git merge-base --is-ancestor "$old" "$new" || {{ need=1; continue; }}
  # Raw listing, read by the shell itself: ":oldmode newmode oldsha newsha status<TAB>path".
  changed=$(git diff-tree -r --no-renames "$old" "$new") || {{ need=1; continue; }}
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    rest=${{line#:* }}
    mode=${{rest%% *}}
    path=${{line#*	}}
    case $mode in 100644|000000) ;; *) need=1 ;; esac
    case $path in
      current_tasks/*/*) need=1 ;;
      current_tasks/README.md|current_tasks/*.lock) ;;
      *) need=1 ;;
    esac
  done <<LISTING
$changed
LISTING
done
[ -n "$need" ] || exit 0
# -I: the pusher's PYTHONPATH, PYTHONSTARTUP or a sitecustomize on it never reach the gate.
printf '%s' "$input" | exec {python} -I -m harness gate --pre-receive --branch {branch}
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
    # main only moves forward (refs/heads/* only: heartbeats are force-pushed elsewhere).
    GitRepo(upstream, env={"GIT_DIR": str(upstream)}).run("config", "receive.denyNonFastForwards", "true")
    return hook
