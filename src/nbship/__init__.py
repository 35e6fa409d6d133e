"""nbship: turn a Jupyter project into a small, reproducible, secure container image."""

__version__ = "0.1.0"
