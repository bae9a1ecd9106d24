"""The command line: click commands only. Each parses its flags, calls core, prints, and maps
errors to exit codes. May import anything in harness; nothing outside cli/ imports cli/:
its callers are processes (the console script and ``python -m harness``, ``harness/__main__.py``;
the local fleet's ``python -m harness.cli.launcher``). ``main.py`` holds the group, the lazy
command registry and the error handler; ``common.py`` what every command module shares."""
