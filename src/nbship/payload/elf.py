"""Debug information out of ELF shared libraries, in the standard library alone (the env stage has
no binutils, and installing them would cost every cold build a download).

Wheels often ship their extension modules unstripped: kiwisolver's is 5.6 MB of which 0.2 MB is
code, netCDF4's 12 MB of which 1.5 MB. What goes is only what the dynamic loader never reads:
non-allocated `.debug*` sections and the static symbol table (`.symtab` and its `.strtab`; the
loader uses `.dynsym`).

How, without breaking what the loader maps:
- The file is cut into blocks the loader sees (each segment's bytes, the ELF header, the program
  header table); bytes between blocks that hold removable sections are dropped, any other gap is
  kept as it is. A block that moves keeps its offset modulo its segments' alignment, so every
  segment maps to the same addresses (auditwheel's patchelf puts segments after the debug data).
- Kept non-allocated sections from dropped gaps (`.comment`, `.shstrtab`, ...) go to the end,
  then the section header table. The table keeps its numbering (symbols and links refer to
  sections by index): removed sections stay as empty SHT_NOBITS entries.
- A file with bytes no section or table accounts for (data a self-extracting binary appends),
  extended section numbering, or anything that does not parse is left as it is.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_MAGIC = b"\x7fELF"
_ET_DYN = 3
_SHT_NOBITS = 8
_SHF_ALLOC = 0x2
_SHN_LORESERVE = 0xFF00
# Padding between sections is at most their alignment; anything longer is data of its own.
_MAX_GAP = 64


@dataclass(frozen=True)
class _Format:
    endian: str  # "<" or ">"
    wide: bool  # ELFCLASS64

    @property
    def header(self) -> str:  # e_type .. e_shstrndx, after e_ident
        return self.endian + ("HHIQQQIHHHHHH" if self.wide else "HHIIIIIHHHHHH")

    @property
    def phdr(self) -> str:
        return self.endian + ("IIQQQQQQ" if self.wide else "IIIIIIII")

    @property
    def shdr(self) -> str:
        return self.endian + ("IIQQQQIIQQ" if self.wide else "IIIIIIIIII")

    def segment(self, values: tuple[int, ...]) -> tuple[int, int, int]:
        """(offset, file size, alignment) of a program header."""
        if self.wide:
            return values[2], values[5], values[7]
        return values[1], values[4], values[7]


@dataclass
class _Section:
    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    align: int

    @property
    def in_file(self) -> bool:
        return self.type != _SHT_NOBITS and self.size > 0


@dataclass
class _Block:
    """Bytes the loader reads, which keep their place relative to each other."""

    start: int
    end: int
    align: int
    new_start: int = 0

    def holds(self, offset: int) -> bool:
        return self.start <= offset <= self.end


def removable(name: str) -> bool:
    return name.startswith((".debug", ".zdebug")) or name in {".symtab", ".strtab"}


def strip(data: bytes) -> bytes | None:
    """The shared library without its debug sections and static symbols, or None when there is
    nothing to remove or the file is not one this can change safely."""
    try:
        return _strip(data)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError, OverflowError):
        return None


def _strip(data: bytes) -> bytes | None:
    if data[:4] != _MAGIC or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    fmt = _Format("<" if data[5] == 1 else ">", data[4] == 2)
    header = list(struct.unpack_from(fmt.header, data, 16))
    e_type, e_phoff, e_shoff, e_ehsize = header[0], header[4], header[5], header[7]
    e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx = header[8:13]
    if e_type != _ET_DYN or e_shnum == 0 or not 0 < e_shstrndx < min(e_shnum, _SHN_LORESERVE):
        return None
    if e_phentsize != struct.calcsize(fmt.phdr) or e_shentsize != struct.calcsize(fmt.shdr):
        return None
    phdrs = [list(struct.unpack_from(fmt.phdr, data, e_phoff + i * e_phentsize)) for i in range(e_phnum)]
    raw = [list(struct.unpack_from(fmt.shdr, data, e_shoff + i * e_shentsize)) for i in range(e_shnum)]
    names_at = raw[e_shstrndx][4]

    def name_of(offset: int) -> str:
        end = data.index(b"\0", names_at + offset)
        return data[names_at + offset : end].decode("ascii")

    sections = [_Section(i, name_of(r[0]), r[1], r[2], r[4], r[5], r[6], r[8]) for i, r in enumerate(raw)]
    table = (e_shoff, e_shoff + e_shnum * e_shentsize)
    blocks = _blocks(fmt, phdrs, e_ehsize, e_phoff, e_phnum * e_phentsize, sections)
    if blocks is None:
        return None
    loose = [s for s in sections if s.in_file and not any(b.start <= s.offset < b.end for b in blocks)]
    if any(s.flags & _SHF_ALLOC for s in loose):
        return None
    if not _accounted_for(
        data, [(b.start, b.end) for b in blocks] + [(s.offset, s.offset + s.size) for s in loose] + [table]
    ):
        return None
    doomed = {s.index for s in loose if removable(s.name)}
    changed = True  # a section a kept one links to (a string table, say) stays
    while changed:
        changed = False
        for s in sections:
            if s.index not in doomed and s.link in doomed:
                doomed.discard(s.link)
                changed = True
    if not doomed:
        return None
    out = bytearray()
    for block in blocks:
        out += bytes((block.start - len(out)) % block.align)
        block.new_start = len(out)
        out += data[block.start : block.end]
    moved: dict[int, int] = {}
    for s in sorted(loose, key=lambda item: item.offset):
        if s.index not in doomed:
            out += bytes(-len(out) % max(s.align, 1))
            moved[s.index] = len(out)
            out += data[s.offset : s.offset + s.size]
    out += bytes(-len(out) % (8 if fmt.wide else 4))
    table_at = len(out)

    def shifted(offset: int) -> int:
        block = next((b for b in blocks if b.holds(offset)), None)
        return offset if block is None else offset - block.start + block.new_start

    for s, values in zip(sections, raw):  # noqa: B905  (the image's Python may be 3.9: no strict=)
        if s.index in doomed:
            values[1], values[4], values[5] = _SHT_NOBITS, table_at, 0
        else:
            values[4] = moved.get(s.index, shifted(values[4]))
        out += struct.pack(fmt.shdr, *values)
    for i, values in enumerate(phdrs):
        values[2 if fmt.wide else 1] = shifted(fmt.segment(tuple(values))[0])
        struct.pack_into(fmt.phdr, out, shifted(e_phoff) + i * e_phentsize, *values)
    header[4], header[5] = shifted(e_phoff), table_at
    struct.pack_into(fmt.header, out, 16, *header)
    return bytes(out) if len(out) < len(data) else None


def _blocks(
    fmt: _Format,
    phdrs: list[list[int]],
    ehsize: int,
    phoff: int,
    phsize: int,
    sections: list[_Section],
) -> list[_Block] | None:
    """The loader's blocks in file order, merged across gaps that hold nothing removable."""
    spans: list[_Block] = [_Block(0, ehsize, 1), _Block(phoff, phoff + phsize, 1)]
    for values in phdrs:
        offset, filesz, align = fmt.segment(tuple(values))
        if filesz:
            spans.append(_Block(offset, offset + filesz, max(align, 1)))
    spans.sort(key=lambda b: b.start)
    if spans[0].start != 0:
        return None
    merged: list[_Block] = []
    for span in spans:
        last = merged[-1] if merged else None
        gap_removable = last is not None and any(
            s.in_file and removable(s.name) and last.end <= s.offset < span.start for s in sections
        )
        if last is not None and (span.start <= last.end or not gap_removable):
            last.end = max(last.end, span.end)
            last.align = max(last.align, span.align)
        else:
            merged.append(span)
    # A section that starts in a block and runs past its end belongs to it whole.
    for s in sections:
        for block in merged:
            if s.in_file and block.start <= s.offset < block.end < s.offset + s.size:
                block.end = s.offset + s.size
    if any(a.end > b.start for a, b in zip(merged, merged[1:])):  # noqa: B905, RUF007  (3.9: no pairwise)
        return None
    return merged


def _accounted_for(data: bytes, spans: list[tuple[int, int]]) -> bool:
    """Whether the file ends where its last section, table or block ends (give or take padding):
    data appended after everything (a self-extracting archive's) is what a program reads by offset.
    Bytes between them that nothing points to (patchelf leaves the old section table behind) go."""
    if any(end > len(data) for _, end in spans):
        return False
    last = max(end for _, end in spans)
    return len(data) - last <= _MAX_GAP or not data[last:].strip(b"\0")
