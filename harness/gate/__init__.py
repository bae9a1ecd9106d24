"""The trusted verifier: the pre-receive / pre-push gate (check.py), the baselines of the tests
that passed at each tip of main, and the hooks installed into an upstream.
May import: git/, locks/ (lock-only pushes), testing/, config, errors."""
