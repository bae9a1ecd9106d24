"""Fleet runtimes: local processes (runtime/local.py) and Docker containers (runtime/docker.py)."""
