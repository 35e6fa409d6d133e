"""What nbship does with containers, on any engine: JupyterLab servers, the volumes that keep the
work, and registries. Commands call these; these call the engine seam (nbship.engine.base)."""
