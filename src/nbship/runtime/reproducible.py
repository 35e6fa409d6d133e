"""Normalizing a built image so that the same inputs give the same image id anywhere.

BuildKit 0.8 (docker 20.10's) has no SOURCE_DATE_EPOCH support, so the image is normalized after
the build: its `docker save` tar is rewritten and loaded back under the same tag. Each layer
keeps its members' order (the daemon's lexical walk), with every time clamped to the build's
clock, no user or group names (the ids stay: they are content), and the few files that record
the day they were written (the password-change day in /etc/shadow, the source time in bytecode
headers) clamped alike. The config gets the clock as its creation time and in its history, and the new layers' digests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import struct
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any

from nbship.engine.base import Engine, ImageInfo
from nbship.errors import BuildError

_PYC_MAGIC_TAIL = b"\r\n"  # every CPython bytecode magic number ends so
_SHADOW = "etc/shadow"
_SPOOL = 64 * 1024 * 1024  # a layer bigger than this is spooled to disk while it is rewritten


def iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clamp_pyc(data: bytes, epoch: int) -> bytes:
    """A timestamp-based .pyc with its recorded source time clamped, as its source's time is."""
    if len(data) < 16 or data[2:4] != _PYC_MAGIC_TAIL or struct.unpack("<I", data[4:8])[0] != 0:
        return data  # not bytecode, or hash-based (no time in it)
    recorded = struct.unpack("<I", data[8:12])[0]
    return data[:8] + struct.pack("<I", min(recorded, epoch)) + data[12:]


def clamp_shadow(data: bytes, epoch: int) -> bytes:
    """/etc/shadow with each password-change day (the third field) no later than the clock's day."""
    day = epoch // 86400
    lines = []
    for line in data.decode("utf-8", errors="surrogateescape").split("\n"):
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit() and int(fields[2]) > day:
            fields[2] = str(day)
        lines.append(":".join(fields))
    return "\n".join(lines).encode("utf-8", errors="surrogateescape")


def _content(member: tarfile.TarInfo, data: bytes, epoch: int) -> bytes:
    if member.name.endswith(".pyc") and "__pycache__/" in member.name:
        return clamp_pyc(data, epoch)
    if member.name == _SHADOW:
        return clamp_shadow(data, epoch)
    return data


def normalize_layer(source: IO[bytes], target: IO[bytes], epoch: int) -> None:
    """Rewrites one layer tar from `source` into `target` (see the module's docstring)."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as spool:
        shutil.copyfileobj(source, spool, 1 << 20)
        spool.seek(0)
        with (
            tarfile.open(fileobj=spool, mode="r:") as tar,
            tarfile.open(fileobj=target, mode="w", format=tarfile.PAX_FORMAT) as out,
        ):
            # The daemon writes members in a walk's lexical order already; kept, so a hard link
            # still follows its target.
            for member in tar.getmembers():
                clean = tarfile.TarInfo(member.name)
                clean.type, clean.mode, clean.uid, clean.gid = member.type, member.mode, member.uid, member.gid
                clean.linkname, clean.devmajor, clean.devminor = member.linkname, member.devmajor, member.devminor
                clean.mtime = min(int(member.mtime), epoch)
                # Extended attributes (file capabilities) are content; times and names in PAX are not.
                clean.pax_headers = {k: v for k, v in member.pax_headers.items() if k.startswith("SCHILY.xattr.")}
                if member.isfile():
                    extracted = tar.extractfile(member)
                    data = _content(member, extracted.read() if extracted else b"", epoch)
                    clean.size = len(data)
                    out.addfile(clean, io.BytesIO(data))
                else:
                    out.addfile(clean)


def normalize_config(config: dict[str, Any], epoch: int, diff_ids: list[str]) -> dict[str, Any]:
    fixed = dict(config)
    fixed["created"] = iso(epoch)
    fixed["history"] = [{**entry, "created": iso(epoch)} for entry in config.get("history") or []]
    fixed["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    for host_specific in ("container", "container_config", "docker_version"):
        fixed.pop(host_specific, None)
    return fixed


def _add(tar: tarfile.TarFile, name: str, path: Path | None = None, data: bytes | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    if path is not None:
        info.size = path.stat().st_size
        with path.open("rb") as handle:
            tar.addfile(info, handle)
    else:
        assert data is not None
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def normalize_image(engine: Engine, reference: str, epoch: int) -> ImageInfo:
    """Rewrites the image `reference` names and loads it back under the same tag; returns it."""
    before = engine.image(reference)
    with tempfile.TemporaryDirectory(prefix="nbship-normalize-") as folder:
        work = Path(folder)
        saved = work / "saved.tar"
        with saved.open("wb") as handle:
            for chunk in engine.save_image(reference):
                handle.write(chunk)
        with tarfile.open(saved) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
            config = json.load(tar.extractfile(manifest["Config"]))  # type: ignore[arg-type]
            layers: list[tuple[str, Path]] = []
            for index, name in enumerate(manifest["Layers"]):
                target = work / f"layer-{index}.tar"
                with target.open("wb") as out:
                    normalize_layer(tar.extractfile(name), out, epoch)  # type: ignore[arg-type]
                hasher = hashlib.sha256()
                with target.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        hasher.update(block)
                layers.append((hasher.hexdigest(), target))
        fixed = json.dumps(normalize_config(config, epoch, [f"sha256:{d}" for d, _ in layers]), sort_keys=True)
        config_name = hashlib.sha256(fixed.encode()).hexdigest() + ".json"
        rewritten = work / "normalized.tar"
        new_manifest = [
            {"Config": config_name, "RepoTags": [reference], "Layers": [f"{d}/layer.tar" for d, _ in layers]}
        ]
        with tarfile.open(rewritten, "w") as out:
            _add(out, config_name, data=fixed.encode())
            for digest, path in layers:
                _add(out, f"{digest}/layer.tar", path=path)
            _add(out, "manifest.json", data=json.dumps(new_manifest).encode())
        saved.unlink()
        with rewritten.open("rb") as handle:
            engine.load_image(handle)
    after = engine.image(reference)
    if after is None or after.id != "sha256:" + config_name[: -len(".json")]:
        raise BuildError(
            f"The normalized image of {reference} did not load as built; build again without --reproducible."
        )
    if before is not None and before.id != after.id:
        engine.remove_untagged_image(before.id)
    return after
