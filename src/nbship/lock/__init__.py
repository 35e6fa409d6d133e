"""Locks: nbship.lock for conda environments (conda.py, py-rattler), requirements.lock for pip
(pip.py, uv), one header model for both (header.py), the local channels and credentials a conda
build gets as secrets (channels.py), and when a build locks first (manage.py)."""
