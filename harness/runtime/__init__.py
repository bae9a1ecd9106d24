"""Processes and fleets: the one runner of every non-git child process (process.py: own
process group, timeout, group kill), the agent session on top of it (agentproc.py), and the
fleet runtimes, local processes (local.py) and Docker containers (docker.py)."""
