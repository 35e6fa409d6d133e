"""JupyterHub's configuration in nbship's hub image. Everything comes from the state nbship wrote
into the hub's volume before it started the hub (see nbship_hub_state)."""

import os
import sys
from pathlib import Path

import nbship_hub_state  # type: ignore[import-not-found]

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - JupyterHub defines it for its config files

configuration = nbship_hub_state.configuration(Path(os.environ["NBSHIP_HUB_STATE"]), python=sys.executable)
for section, values in configuration.items():
    for name, value in values.items():
        c[section][name] = value
