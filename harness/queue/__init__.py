"""The merge queue (docs/queue.md, DESIGN.md invariant 9): agents submit their work with the
lock's deletion to ``refs/harness/queue/<task>`` on the upstream and go on; one runner per
upstream tests submissions in batches with the gate's trusted verifier, lands green batches
with one compare-and-swap of ``main``, and splits a red batch to refuse only its culprits.

Agents touch the queue only through git refs (submission.py), so the same protocol works
over a network; the runner (runner.py) lives with the upstream.
May import: git/, locks/, tasks/, gate/, bisect/ (the search), config, errors.
"""
