"""Rendering: the build plan becomes text (Dockerfile, ignore list). No Docker needed here."""
