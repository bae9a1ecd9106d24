"""The loop's last act: hand back every lock this clone still holds, whatever ended it.

SIGTERM, SIGINT, ``--once``, ``--max-iterations``, a spent budget, an iteration that failed
outside its session, a hand-back that failed: each could end the loop with a lock of its
own still at the tip, held for a whole lease by nobody. So before the loop returns (or
raises), every claim record left in ``.git/harness/claims/`` is handed back. A hand-back
that fails (the upstream down, out of space) is retried with backoff for up to
``loop.hand_back_timeout_seconds``; one that still fails is said in an ERROR line and its
record stays, so the next loop started in this clone hands it back in its first step.
"""

from __future__ import annotations

import time

from harness.locks import records
from harness.loop.context import Ctx
from harness.loop.steps import try_hand_back

_FIRST_PAUSE_SECONDS = 0.2
_MAX_PAUSE_SECONDS = 5.0


def hand_back_all(ctx: Ctx, why: str, timeout: float) -> dict[str, str]:
    """Hand back every task this clone holds; the ones that could not be, with the reason."""
    ctx.preclaimed = None  # a claim the last release made for an iteration that will not run
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE_SECONDS
    said = False
    while True:
        failed = {}
        for record in records.all_records(ctx.ws.state_dir):
            error = try_hand_back(ctx, record.task, why)
            if error:
                failed[record.task] = error
        remaining = deadline - time.monotonic()
        if not failed or remaining <= 0:
            break
        if not said:
            ctx.say(f"could not hand back {', '.join(sorted(failed))} yet; retrying for up to {remaining:.0f} s")
            said = True
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, _MAX_PAUSE_SECONDS)
    where = ctx.ws.state_dir / "claims"
    for task, error in sorted(failed.items()):
        ctx.say(
            f"ERROR {task}: could not hand the lock back within {timeout:g} s ({error}); its record stays "
            f"in {where} and the next loop started here hands it back"
        )
    return failed
