"""Seeing the fleet: lock events read from git log, the loop's events.jsonl, statistics, and
the text, live (top) and HTML (report) views. Read-only: it never publishes.
May import: git/, locks/, runtime/ (fleet state), loop/events.py (the events file's
one writer and reader), errors."""
