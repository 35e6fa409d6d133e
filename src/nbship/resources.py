"""Resource limits for the containers nbship starts for the user (`--memory`, `--cpus`, `--gpus`),
read the way `docker run` reads them, so that a docker user's habits carry over unchanged."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass

from nbship.errors import UsageError

# Docker refuses less than this (the daemon's own minimum for --memory).
MIN_MEMORY = 6 * 1024 * 1024
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
# docker's units.RAMInBytes: a number, an optional binary unit, an optional "i" and "b".
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgt]?)i?b?$", re.IGNORECASE)


@dataclass(frozen=True)
class GpuRequest:
    """`--gpus` as docker reads it: `all`, a count, or `count=N,device=ID,capabilities=...,driver=...`."""

    count: int = 0  # -1: every GPU; 0 with device_ids: exactly those
    device_ids: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ("gpu",)
    driver: str = ""
    text: str = "all"  # as given, for messages


@dataclass(frozen=True)
class Resources:
    """What a container may use; None: no limit (the engine's default)."""

    memory: int | None = None  # bytes
    cpus: float | None = None
    gpus: GpuRequest | None = None

    def merged(self, fallback: Resources) -> Resources:
        """These limits, each one not given taken from `fallback` (the settings)."""
        return Resources(
            memory=self.memory if self.memory is not None else fallback.memory,
            cpus=self.cpus if self.cpus is not None else fallback.cpus,
            gpus=self.gpus if self.gpus is not None else fallback.gpus,
        )


def parse_memory(text: str, *, what: str = "--memory") -> int:
    """`512m`, `4g`, `1.5g` or a number of bytes; binary units, as docker reads them."""
    match = _MEMORY.match(text.strip())
    if match is None:
        raise UsageError(
            f"{what} {text!r} is not an amount of memory: give a number with an optional unit "
            "b, k, m, g or t (binary, as docker reads it), e.g. 512m or 4g."
        )
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < MIN_MEMORY:
        raise UsageError(f"{what} {text!r} is too little: Docker needs at least 6m for a container.")
    return size


def parse_cpus(text: str | float, *, what: str = "--cpus") -> float:
    """How many CPUs the container may use, e.g. 1.5 (at least 0.01, as docker counts them)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0.01:
        raise UsageError(f"{what} {text!r} is not a number of CPUs: give one such as 1, 2 or 0.5 (at least 0.01).")
    return value


def _count(value: str, text: str, what: str) -> int:
    if value == "all":
        return -1
    if value.isascii() and value.isdigit():
        return int(value)
    raise UsageError(f"{what} {text!r}: '{value}' is not a number of GPUs; give a count, or all.")


def parse_gpus(text: str, *, what: str = "--gpus") -> GpuRequest:
    """docker's --gpus syntax: `all`, `2`, `device=0,2` (quoted in the shell: `'"device=0,2"'`),
    `count=2,capabilities=compute,utility`, `driver=nvidia`."""
    try:
        fields = next(csv.reader([text.strip()]), []) if text.strip() else []
    except csv.Error:
        fields = []
    if not fields:
        raise UsageError(f"{what} needs a value: all, a number of GPUs, or device=ID,... (as for docker run).")
    count: int | None = None
    devices: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ("gpu",)
    driver = ""
    seen: set[str] = set()
    for item in fields:
        key, has_value, value = item.partition("=")
        name = key if has_value else "count"
        if name in seen:
            raise UsageError(f"{what} {text!r}: '{name}' is given twice.")
        seen.add(name)
        if not has_value:
            count = _count(key, text, what)
        elif key == "count":
            count = _count(value, text, what)
        elif key == "device":
            devices = tuple(part for part in value.split(",") if part)
        elif key == "capabilities":
            capabilities = (*(part for part in value.split(",") if part), "gpu")
        elif key == "driver":
            driver = value
        else:
            raise UsageError(
                f"{what} {text!r}: unknown key '{key}'. docker's --gpus takes all, a count, or "
                "count=, device=, capabilities= and driver=."
            )
    if count is None:
        count = 0 if devices else 1
    return GpuRequest(count=count, device_ids=devices, capabilities=capabilities, driver=driver, text=text.strip())
