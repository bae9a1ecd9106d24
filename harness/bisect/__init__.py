"""Oracle bisection: the pure group-testing search (search.py), the probe runner (probe.py)
and the command's driver that writes one task spec per culprit (run.py).
May import: tasks/, locks/ (task ids), runtime/ (the process runner), errors."""
