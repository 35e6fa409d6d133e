"""Committed outputs against fresh ones, cell by cell.

What counts is what a reader of the notebook sees: printed text (stdout), results and displays
(each MIME type of a bundle), and errors. Not compared: execution counts, output metadata,
stderr (warnings and progress bars, not results), widget state, and cells tagged
`nbship-skip-compare`. Before text is compared, memory addresses, timestamps, UUIDs and
%time/%timeit figures are masked; SVG pictures are compared with the ids plotting libraries make
up per run renumbered in order of appearance; PNG images are compared by their pixels, other
images by their decoded bytes, and an image stored byte for byte the same is never decoded. With a
tolerance, numbers in text may differ by that much (relative, or absolute near zero).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from nbship.check.png import decode_png

# Bundles whose content names objects of one session (widget models, plot ids): never equal twice.
IGNORED_MIME_PREFIXES = ("application/vnd.jupyter.widget",)
SKIP_TAG = "nbship-skip-compare"  # a cell tag: run the cell, never compare its outputs
_TEXT_IMAGE = "image/svg+xml"
_BINARY_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"0x[0-9a-fA-F]{6,16}\b"), "0x…"),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b"),
        "<timestamp>",
    ),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"^CPU times: .*$", re.M), "CPU times: <masked>"),
    (re.compile(r"^Wall time: .*$", re.M), "Wall time: <masked>"),
    (re.compile(r"^.* per loop \(mean ± std\. dev\. of .*$", re.M), "<timeit result>"),
)
# SVG from plotting libraries carries ids made up per run (matplotlib salts them at random): each is
# defined by id="..." and used by href="#..." (xlink:href too) or url(#...).
_SVG_IDS = re.compile(r'(\bid="|href="#|url\(#)([^")]*)')
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Picture:
    """An image output as the notebook stores it: its MIME type and base64 text."""

    mime: str
    data: str


@dataclass(frozen=True)
class CellDifference:
    cell: int  # 1-based position among all cells
    execution_count: int | None  # the fresh "In [n]"
    what: str  # "stdout", "error", a MIME type, or "outputs" (their number or kinds)
    committed: str  # short excerpts where they first differ
    fresh: str
    # For a picture that differs: both, to be shown side by side (the HTML report).
    committed_picture: Picture | None = None
    fresh_picture: Picture | None = None


@dataclass(frozen=True)
class Comparison:
    cells_compared: int
    differences: tuple[CellDifference, ...]

    @property
    def same(self) -> bool:
        return not self.differences


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def normalize_text(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def normalize_svg(text: str) -> str:
    """SVG with its ids renumbered in order of first appearance, so two drawings of one picture
    compare equal whatever ids they were given, and references still tell which is which."""
    names: dict[str, str] = {}

    def renumber(match: re.Match[str]) -> str:
        name = names.setdefault(match.group(2), f"id{len(names) + 1}")
        return match.group(1) + name

    return _SVG_IDS.sub(renumber, text)


Item = tuple[str, str | Picture]


def _decoded(picture: Picture) -> bytes | str:
    """What an image shows: PNG pixels (with the size), else the decoded bytes."""
    try:
        data = base64.b64decode(picture.data, validate=False)
    except (binascii.Error, ValueError):
        return picture.data
    if picture.mime == "image/png":
        decoded = decode_png(data)
        if decoded is not None:
            return f"{decoded.width}x{decoded.height}".encode() + b"\0" + decoded.pixels
    return data


def _same_picture(old: Picture, new: Picture) -> bool:
    # The stored text first: an image saved byte for byte the same needs no decoding.
    return old.data == new.data or _decoded(old) == _decoded(new)


def comparable_outputs(outputs: Iterable[Mapping[str, Any]]) -> list[Item]:
    """A cell's outputs as (kind, value) items, in order; consecutive stdout chunks joined,
    because how printed text is split into chunks depends on timing."""
    items: list[Item] = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            if output.get("name") != "stdout":
                continue
            text = _text(output.get("text", ""))
            if items and items[-1][0] == "stdout" and isinstance(items[-1][1], str):
                items[-1] = ("stdout", items[-1][1] + text)
            else:
                items.append(("stdout", text))
        elif kind in {"execute_result", "display_data"}:
            data = output.get("data", {})
            for mime in sorted(data):
                if mime.startswith(IGNORED_MIME_PREFIXES):
                    continue
                value = data[mime]
                if mime in _BINARY_IMAGES:
                    items.append((mime, Picture(mime, "".join(_text(value).split()))))
                elif mime == _TEXT_IMAGE and isinstance(value, str | list):
                    items.append((mime, normalize_svg(_text(value))))
                elif isinstance(value, str | list):
                    items.append((mime, _text(value)))
                else:  # JSON bundles are stored as objects
                    items.append((mime, repr(value)))
        elif kind == "error":
            items.append(("error", f"{output.get('ename', '')}: {output.get('evalue', '')}"))
    return [(kind, normalize_text(value) if isinstance(value, str) else value) for kind, value in items]


def _svg_picture(text: str) -> Picture:
    return Picture(_TEXT_IMAGE, base64.b64encode(text.encode()).decode())


def _numbers_close(a: str, b: str, tolerance: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)


def texts_equal(committed: str, fresh: str, tolerance: float | None) -> bool:
    if committed == fresh:
        return True
    if tolerance is None:
        return False
    if _NUMBER.split(committed) != _NUMBER.split(fresh):
        return False
    return all(
        _numbers_close(a, b, tolerance) for a, b in zip(_NUMBER.findall(committed), _NUMBER.findall(fresh), strict=True)
    )


def _excerpts(committed: str, fresh: str, width: int = 80) -> tuple[str, str]:
    """The first line where the texts differ, from each side."""
    old_lines, new_lines = committed.split("\n"), fresh.split("\n")
    for old, new in zip(old_lines, new_lines, strict=False):
        if old != new:
            return _clip(old, width), _clip(new, width)
    if len(old_lines) != len(new_lines):
        return f"{len(old_lines)} lines", f"{len(new_lines)} lines"
    return _clip(committed, width), _clip(fresh, width)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _describe(picture: Picture) -> str:
    decoded = _decoded(picture)
    if isinstance(decoded, bytes) and b"\0" in decoded[:20]:
        return "image " + decoded.split(b"\0", 1)[0].decode(errors="replace")
    return f"{len(decoded)} bytes"


def _compare_cell(
    cell: int, count: int | None, old: list[Item], new: list[Item], tolerance: float | None
) -> CellDifference | None:
    for (old_kind, old_value), (new_kind, new_value) in zip(old, new, strict=False):
        if old_kind != new_kind:
            return CellDifference(cell, count, "outputs", old_kind, new_kind)
        if isinstance(old_value, Picture) and isinstance(new_value, Picture):
            if not _same_picture(old_value, new_value):
                before, after = _describe(old_value), _describe(new_value)
                return CellDifference(
                    cell,
                    count,
                    old_kind,
                    before,
                    after + (", other pixels" if after == before else ""),
                    committed_picture=old_value,
                    fresh_picture=new_value,
                )
        elif isinstance(old_value, str) and isinstance(new_value, str):
            if not texts_equal(old_value, new_value, tolerance):
                difference = CellDifference(cell, count, old_kind, *_excerpts(old_value, new_value))
                if old_kind == _TEXT_IMAGE:  # shown side by side too
                    difference = replace(
                        difference,
                        committed_picture=_svg_picture(old_value),
                        fresh_picture=_svg_picture(new_value),
                    )
                return difference
        elif old_value != new_value:
            return CellDifference(cell, count, old_kind, "content", "content")
    if len(old) != len(new):
        return CellDifference(
            cell,
            count,
            "outputs",
            ", ".join(kind for kind, _ in old) or "none",
            ", ".join(kind for kind, _ in new) or "none",
        )
    return None


def compare_notebooks(
    committed: Mapping[str, Any], fresh: Mapping[str, Any], *, tolerance: float | None = None
) -> Comparison:
    """Compares the code cells that have outputs in `committed` with the same cells in `fresh`
    (the same notebook executed: cells are matched by position)."""
    differences: list[CellDifference] = []
    compared = 0
    old_cells, new_cells = list(committed.get("cells", [])), list(fresh.get("cells", []))
    for index, old_cell in enumerate(old_cells):
        if old_cell.get("cell_type") != "code" or not old_cell.get("outputs"):
            continue
        if SKIP_TAG in ((old_cell.get("metadata") or {}).get("tags") or ()):
            continue
        old_items = comparable_outputs(old_cell["outputs"])
        if not old_items:  # only stderr or widgets: nothing this comparison looks at
            continue
        compared += 1
        new_cell = new_cells[index] if index < len(new_cells) else {}
        count = new_cell.get("execution_count")
        difference = _compare_cell(
            index + 1, count, old_items, comparable_outputs(new_cell.get("outputs", [])), tolerance
        )
        if difference is not None:
            differences.append(difference)
    return Comparison(compared, tuple(differences))
