"""The API's commands, one module per concern; nbship.api is their one front door."""
