"""The command line: click commands only. Each parses its flags, calls core, prints, and maps
errors to exit codes. May import anything in harness; nothing outside cli/ imports cli/
(the console script and ``python -m harness`` are its only callers)."""
