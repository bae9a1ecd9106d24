"""Task specs (``tasks/<id>.yaml``): parsing and dependency and file-overlap scheduling
(specs.py), and adding or listing them on the upstream (ops.py).
May import: git/, locks/ (the lock file format and snapshot), config, errors."""
