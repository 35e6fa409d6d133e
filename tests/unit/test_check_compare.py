"""Output comparison for `nbship check --compare`: table tests, no Docker."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest

from nbship.check.compare import comparable_outputs, compare_notebooks, normalize_text, texts_equal
from nbship.check.png import decode_png


def stdout(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def stderr(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stderr", "text": text}


def result(data: dict[str, Any], count: int = 1) -> dict[str, Any]:
    return {"output_type": "execute_result", "data": data, "metadata": {}, "execution_count": count}


def display(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "display_data", "data": data, "metadata": {}}


def error(ename: str, evalue: str) -> dict[str, Any]:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": ["..."]}


def notebook(*cells: list[dict[str, Any]] | str) -> dict[str, Any]:
    """Each argument is a code cell's outputs, or a markdown cell's text."""
    built = []
    for count, cell in enumerate(cells, start=1):
        if isinstance(cell, str):
            built.append({"cell_type": "markdown", "source": cell, "metadata": {}})
        else:
            built.append({"cell_type": "code", "source": "", "outputs": cell, "execution_count": count, "metadata": {}})
    return {"cells": built, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def png(width: int, height: int, filter_type: int, level: int, *, alpha: bool = False, shift: int = 0) -> str:
    """A PNG of a fixed pattern, encoded with the given row filter and compression level."""
    channels = 4 if alpha else 3
    raw = b""
    previous = bytes(width * channels)
    for y in range(height):
        row = b"".join(bytes(((x * 40 + shift) % 256, (y * 50) % 256, 90, 255)[:channels]) for x in range(width))
        if filter_type == 1:
            encoded = bytes((row[i] - (row[i - channels] if i >= channels else 0)) & 255 for i in range(len(row)))
        elif filter_type == 2:
            encoded = bytes((a - b) & 255 for a, b in zip(row, previous, strict=True))
        else:
            encoded = row
        raw += bytes([filter_type]) + encoded
        previous = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Software\0test " + str(level).encode())
        + chunk(b"IDAT", zlib.compress(raw, level))
        + chunk(b"IEND", b"")
    )
    return base64.encodebytes(data).decode() if level == 9 else base64.b64encode(data).decode()


SAME: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], float | None]] = [
    ("identical text", [stdout("a = 1\n")], [stdout("a = 1\n")], None),
    ("stdout split into other chunks", [stdout("a = 1\nb = 2\n")], [stdout("a = 1\n"), stdout("b = 2\n")], None),
    ("stderr is not compared", [stdout("x\n"), stderr("Warning: old\n")], [stdout("x\n")], None),
    ("execution counts are ignored", [result({"text/plain": "3"}, count=7)], [result({"text/plain": "3"}, 1)], None),
    (
        "memory addresses are masked",
        [result({"text/plain": "<Foo object at 0x7f3e9c1d2b40>"})],
        [result({"text/plain": "<Foo object at 0x55d0c0ffee00>"})],
        None,
    ),
    (
        "timestamps are masked",
        [stdout("run at 2024-03-01 09:15:27.123456\n")],
        [stdout("run at 2026-11-26T17:40:01Z\n")],
        None,
    ),
    (
        "uuids are masked",
        [display({"text/html": '<div id="0b7e8a4c-1d2e-4f3a-9b8c-7d6e5f4a3b2c"></div>'})],
        [display({"text/html": '<div id="9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f"></div>'})],
        None,
    ),
    (
        "%time figures are masked",
        [stdout("CPU times: user 3 ms, sys: 1 ms, total: 4 ms\nWall time: 5.2 ms\n")],
        [stdout("CPU times: user 9 ms, sys: 0 ns, total: 9 ms\nWall time: 11 ms\n")],
        None,
    ),
    (
        "%timeit figures are masked",
        [stdout("1.2 ms ± 3.4 µs per loop (mean ± std. dev. of 7 runs, 1,000 loops each)\n")],
        [stdout("1.5 ms ± 9.1 µs per loop (mean ± std. dev. of 7 runs, 1,000 loops each)\n")],
        None,
    ),
    ("trailing whitespace", [stdout("a  \nb\n\n")], [stdout("a\nb\n")], None),
    (
        "PNG: same pixels, other filter and compression",
        [display({"image/png": png(7, 5, 0, 1)})],
        [display({"image/png": png(7, 5, 1, 9)})],
        None,
    ),
    (
        "PNG: same pixels, up filter, RGBA",
        [display({"image/png": png(6, 4, 2, 6, alpha=True)})],
        [display({"image/png": png(6, 4, 0, 0, alpha=True)})],
        None,
    ),
    (
        "PNG with an opaque alpha channel equals the same RGB picture",
        [display({"image/png": png(5, 3, 0, 6, alpha=True)})],
        [display({"image/png": png(5, 3, 1, 6)})],
        None,
    ),
    (
        "widget views are not compared",
        [display({"application/vnd.jupyter.widget-view+json": {"model_id": "a1"}, "text/plain": "w"})],
        [display({"application/vnd.jupyter.widget-view+json": {"model_id": "b2"}, "text/plain": "w"})],
        None,
    ),
    (
        "float noise within the tolerance",
        [result({"text/plain": "0.3"})],
        [result({"text/plain": "0.30000000000000004"})],
        1e-9,
    ),
    ("a number near zero", [stdout("residual 0.0\n")], [stdout("residual 1e-17\n")], 1e-9),
    ("the same error (raises-exception cell)", [error("ValueError", "bad")], [error("ValueError", "bad")], None),
    (
        "JSON bundles",
        [display({"application/json": {"a": [1, 2]}})],
        [display({"application/json": {"a": [1, 2]}})],
        None,
    ),
]

DIFFERENT: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], float | None, str]] = [
    ("a changed number", [stdout("mean = 3.0\n")], [stdout("mean = 3.2\n")], None, "stdout"),
    (
        "float noise without a tolerance",
        [result({"text/plain": "0.3"})],
        [result({"text/plain": "0.30000000000000004"})],
        None,
        "text/plain",
    ),
    ("beyond the tolerance", [stdout("mean = 3.0\n")], [stdout("mean = 3.2\n")], 1e-3, "stdout"),
    ("other words around equal numbers", [stdout("mean = 3\n")], [stdout("median = 3\n")], 0.5, "stdout"),
    ("an output went missing", [stdout("a\n"), result({"text/plain": "1"})], [stdout("a\n")], None, "outputs"),
    ("an output kind changed", [result({"text/plain": "1"})], [stdout("1\n")], None, "outputs"),
    (
        "a MIME type went missing",
        [result({"text/plain": "t", "text/html": "<b>t</b>"})],
        [result({"text/plain": "t"})],
        None,
        "outputs",
    ),
    (
        "PNG: another picture",
        [display({"image/png": png(7, 5, 0, 1)})],
        [display({"image/png": png(7, 5, 0, 1, shift=3)})],
        None,
        "image/png",
    ),
    (
        "PNG: another size",
        [display({"image/png": png(7, 5, 0, 1)})],
        [display({"image/png": png(5, 7, 0, 1)})],
        None,
        "image/png",
    ),
    ("another error", [error("ValueError", "bad")], [error("KeyError", "'x'")], None, "error"),
    ("a JPEG's bytes", [display({"image/jpeg": "AAEC"})], [display({"image/jpeg": "AAED"})], None, "image/jpeg"),
]


@pytest.mark.parametrize(("name", "committed", "fresh", "tolerance"), SAME, ids=[case[0] for case in SAME])
def test_outputs_that_count_as_the_same(
    name: str, committed: list[dict[str, Any]], fresh: list[dict[str, Any]], tolerance: float | None
) -> None:
    comparison = compare_notebooks(notebook(committed), notebook(fresh), tolerance=tolerance)
    assert comparison.cells_compared == 1, name
    assert comparison.same, comparison.differences


@pytest.mark.parametrize(
    ("name", "committed", "fresh", "tolerance", "what"), DIFFERENT, ids=[case[0] for case in DIFFERENT]
)
def test_outputs_that_differ(
    name: str, committed: list[dict[str, Any]], fresh: list[dict[str, Any]], tolerance: float | None, what: str
) -> None:
    comparison = compare_notebooks(notebook("# title", committed), notebook("# title", fresh), tolerance=tolerance)
    assert not comparison.same, name
    (difference,) = comparison.differences
    assert difference.cell == 2  # counted among all cells, the markdown one included
    assert difference.execution_count == 2
    assert difference.what == what


def test_difference_names_the_changed_line() -> None:
    committed = notebook([stdout("n = 5\nmean = 3.0\nmax = 6\n")])
    fresh = notebook([stdout("n = 5\nmean = 3.2\nmax = 6\n")])
    (difference,) = compare_notebooks(committed, fresh).differences
    assert (difference.committed, difference.fresh) == ("mean = 3.0", "mean = 3.2")


def test_only_cells_with_committed_outputs_are_compared() -> None:
    committed = notebook([], [stdout("kept\n")], [stderr("only a warning\n")], "text")
    fresh = notebook([stdout("new output\n")], [stdout("kept\n")], [stderr("other warning\n")], "text")
    comparison = compare_notebooks(committed, fresh)
    assert comparison.cells_compared == 1
    assert comparison.same


def test_a_notebook_without_outputs_compares_nothing() -> None:
    comparison = compare_notebooks(notebook([], []), notebook([stdout("a\n")], [stdout("b\n")]))
    assert comparison.cells_compared == 0 and comparison.same


def test_several_cells_are_each_reported() -> None:
    committed = notebook([stdout("1\n")], [stdout("2\n")], [stdout("3\n")])
    fresh = notebook([stdout("1\n")], [stdout("20\n")], [stdout("30\n")])
    assert [d.cell for d in compare_notebooks(committed, fresh).differences] == [2, 3]


@pytest.mark.parametrize(
    ("committed", "fresh", "tolerance", "equal"),
    [
        ("x = 1.0000001", "x = 1.0", 1e-6, True),
        ("x = 1.0001", "x = 1.0", 1e-6, False),
        ("[1, 2, 3]", "[1, 2, 3, 4]", 0.5, False),
        ("a1 b2", "a1 b2", None, True),
        ("nan", "nan", 1e-3, True),
        ("1e3", "1000.0000001", 1e-6, True),
        ("-2.5", "+2.5", 1e-6, False),
    ],
)
def test_texts_equal_with_a_tolerance(committed: str, fresh: str, tolerance: float | None, equal: bool) -> None:
    assert texts_equal(committed, fresh, tolerance) is equal


def test_normalize_text_keeps_plain_dates_and_short_hex() -> None:
    assert normalize_text("on 2024-03-01, flag 0xff") == "on 2024-03-01, flag 0xff"


def test_comparable_outputs_orders_mime_types_and_joins_stdout() -> None:
    items = comparable_outputs([stdout("a"), stdout("b\n"), result({"text/plain": "1", "text/html": "<i>1</i>"})])
    assert [kind for kind, _ in items] == ["stdout", "text/html", "text/plain"]
    assert items[0][1] == "ab"


def test_decode_png_reads_pixels_and_rejects_other_data() -> None:
    picture = decode_png(base64.b64decode(png(3, 2, 1, 9)))
    assert picture is not None
    assert (picture.width, picture.height) == (3, 2)
    assert picture.pixels[:4] == bytes((0, 0, 90, 255))
    assert picture.pixels[4:8] == bytes((40, 0, 90, 255))
    assert decode_png(b"GIF89a...") is None
    assert decode_png(b"\x89PNG\r\n\x1a\n" + b"\0\0\0\x0dIHDR" + b"broken") is None


# -- SVG, the skip tag, and images stored the same --------------------------------------------


def svg(clip: str, fill: str = "#3366cc") -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="4" height="2">'
        f'<defs><clipPath id="{clip}"><rect width="4" height="2"/></clipPath><path id="m{clip}" d="M0 0"/></defs>'
        f'<rect clip-path="url(#{clip})" fill="{fill}"/><use xlink:href="#m{clip}"/><use href="#m{clip}"/></svg>'
    )


def test_svg_with_other_made_up_ids_is_the_same() -> None:
    committed = notebook([display({"image/svg+xml": svg("p1a2b3c4d5")})])
    fresh = notebook([display({"image/svg+xml": svg("p9f8e7d6c5")})])
    assert compare_notebooks(committed, fresh).same


def test_svg_of_another_picture_differs_and_keeps_both_pictures() -> None:
    committed = notebook([display({"image/svg+xml": svg("p1")})])
    fresh = notebook([display({"image/svg+xml": svg("p2", fill="#cc3333")})])
    (difference,) = compare_notebooks(committed, fresh).differences
    assert difference.what == "image/svg+xml"
    assert difference.committed_picture is not None and difference.fresh_picture is not None
    assert base64.b64decode(difference.fresh_picture.data).decode().count("#cc3333") == 1


def test_svg_ids_that_refer_to_each_other_stay_told_apart() -> None:
    swapped = svg("a").replace('clip-path="url(#a)"', 'clip-path="url(#ma)"')
    committed = notebook([display({"image/svg+xml": svg("a")})])
    assert not compare_notebooks(committed, notebook([display({"image/svg+xml": swapped})])).same


def test_a_cell_tagged_skip_compare_is_run_but_not_compared() -> None:
    committed = notebook([stdout("0.123\n")], [stdout("same\n")])
    committed["cells"][0]["metadata"]["tags"] = ["nbship-skip-compare"]
    comparison = compare_notebooks(committed, notebook([stdout("0.987\n")], [stdout("same\n")]))
    assert comparison.same and comparison.cells_compared == 1


def test_images_stored_the_same_are_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbship.check import compare

    decoded: list[bytes] = []
    real = compare.decode_png
    monkeypatch.setattr(compare, "decode_png", lambda data: decoded.append(data) or real(data))
    picture = png(7, 5, 0, 1)
    assert compare_notebooks(
        notebook([display({"image/png": picture})]), notebook([display({"image/png": picture})])
    ).same
    assert decoded == []
    # The same text split over lines, as nbformat may store it, is still the same image.
    wrapped = [picture[i : i + 60] + "\n" for i in range(0, len(picture), 60)]
    assert compare_notebooks(
        notebook([display({"image/png": picture})]), notebook([display({"image/png": wrapped})])
    ).same
    assert decoded == []
    assert compare_notebooks(
        notebook([display({"image/png": png(7, 5, 0, 1)})]), notebook([display({"image/png": png(7, 5, 1, 9)})])
    ).same
    assert len(decoded) == 2  # other bytes, same pixels: decoded to find out


def test_a_png_that_differs_carries_both_pictures() -> None:
    committed = notebook([display({"image/png": png(7, 5, 0, 1)})])
    fresh = notebook([display({"image/png": png(7, 5, 0, 1, shift=3)})])
    (difference,) = compare_notebooks(committed, fresh).differences
    assert (difference.committed, difference.fresh) == ("image 7x5", "image 7x5, other pixels")
    assert difference.committed_picture is not None and difference.committed_picture.mime == "image/png"
