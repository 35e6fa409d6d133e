"""conda environments: locking on the host (lock.py) and the installer the builder stage runs."""
