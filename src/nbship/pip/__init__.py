"""pip requirements: locking on the host with uv (lock.py)."""
