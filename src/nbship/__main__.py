"""`python -m nbship`: the same as the `nbship` command."""

from nbship.cli import main

main()
