"""Everything that talks to Docker. Only engine/client.py touches the SDK or the CLI."""
