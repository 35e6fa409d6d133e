"""A tiny package that the fixture project installs into its own image."""


def celsius_to_kelvin(value: float) -> float:
    return value + 273.15
