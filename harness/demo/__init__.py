"""The embedded demo: a small project and its task specs (project.py), the scripted fleet
that drains it (fleet.py) and the claim race of ``harness race`` (race.py).
May import any core layer; only cli/ imports demo/."""
