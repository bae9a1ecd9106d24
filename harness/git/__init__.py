"""The only code that runs git: the command choke point (repo.py), object reading, the
upstream's tip (upstream.py), optimistic publication of small changes (publish.py), the
local push slot and conflict markers. May import: errors, retry. Nothing above it."""
