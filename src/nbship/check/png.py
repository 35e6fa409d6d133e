"""PNG pixels without an imaging library: two PNGs of the same picture can differ byte for byte
(compression level, filters, metadata chunks), so outputs are compared by what they show."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    pixels: bytes  # RGBA, 8 bits a sample, row by row; for unusual formats the unfiltered data


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> bytes:
    out = bytearray()
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((x + y) & 0xFF for x, y in zip(line, previous, strict=False))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upper_left = previous[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, previous[i], upper_left)) & 0xFF
        elif kind != 0:
            raise ValueError(f"unknown PNG filter {kind}")
        out += line
        previous = line
    return bytes(out)


def _to_rgba(data: bytes, colour: int, palette: bytes, transparency: bytes) -> bytes:
    if colour == 6:
        return data
    out = bytearray()
    if colour == 2:
        for i in range(0, len(data), 3):
            out += data[i : i + 3] + b"\xff"
    elif colour == 0:
        for value in data:
            out += bytes((value, value, value, 255))
    elif colour == 4:
        for i in range(0, len(data), 2):
            out += bytes((data[i], data[i], data[i], data[i + 1]))
    elif colour == 3:
        for index in data:
            alpha = transparency[index] if index < len(transparency) else 255
            out += palette[3 * index : 3 * index + 3] + bytes((alpha,))
    return bytes(out)


def decode_png(data: bytes) -> Picture | None:
    """The picture in a PNG, or None when `data` is not a PNG this reader understands."""
    if not data.startswith(_SIGNATURE):
        return None
    pos = len(_SIGNATURE)
    header: tuple[int, ...] | None = None
    palette = transparency = b""
    compressed: list[bytes] = []
    try:
        while pos + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[pos : pos + 8])
            body = data[pos + 8 : pos + 8 + length]
            pos += 12 + length
            if kind == b"IHDR":
                header = struct.unpack(">IIBBBBB", body)
            elif kind == b"PLTE":
                palette = body
            elif kind == b"tRNS":
                transparency = body
            elif kind == b"IDAT":
                compressed.append(body)
            elif kind == b"IEND":
                break
        if header is None:
            return None
        width, height, depth, colour, _, _, interlace = header
        raw = zlib.decompress(b"".join(compressed))
        if colour not in _CHANNELS:
            return None
        if interlace or depth != 8:
            # Rare in notebook outputs: compare the decompressed data as it is.
            return Picture(width, height, struct.pack(">IIBBBBB", *header) + raw)
        bpp = _CHANNELS[colour]
        pixels = _unfilter(raw, height, width * bpp, bpp)
        return Picture(width, height, _to_rgba(pixels, colour, palette, transparency))
    except (struct.error, zlib.error, ValueError, IndexError):
        return None
