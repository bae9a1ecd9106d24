"""The lock protocol: the lock file format, claim, release, heartbeat, reclaim, the clone's
claim records, the upstream snapshot of ``current_tasks/`` and ``harness status``.
May import: git/, tasks/ (specs), config, errors, retry, workspace. Never loop/, gate/ or cli/."""
