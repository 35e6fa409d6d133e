"""nbship check: the project's notebooks executed headless inside its image, reported, compared."""
