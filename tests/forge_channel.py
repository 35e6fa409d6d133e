"""A conda channel shaped like conda-forge, made by the tests: conda-forge cannot be reached from
these machines, so this one has its package shapes, made from real bytes.

- `python`: the stand-in base image's Debian CPython laid out as conda's python is (`bin/python3.11`
  with its `python3`/`python` links, `lib/python3.11` with `lib-dynload`, an empty
  `site-packages`), relocatable: Python finds its prefix from where its binary is, and its
  sysconfig data carries the build prefix as a text placeholder the installer rewrites. Debian's
  layout patches (dist-packages, the /usr/local install scheme) are turned back to conda's.
  It links the base image's system libraries, where conda-forge's python has conda packages of them.
- `python_abi` and `pip`, as conda-forge has them (every environment with Python gets pip).
- `noarch: python` packages converted from the pure wheels of JupyterLab's closure and of the
  analysis packages (tests/forge/pylock.toml pins every wheel): files under `site-packages/`,
  data files at the prefix, console scripts as `info/link.json` entry points that the installer
  writes and compiles.
- linux-64 packages converted from the binary wheels (numpy, pandas, pyzmq, ...), pinned to
  Python 3.11 and its ABI, with their bundled shared libraries, and console scripts whose
  shebang carries the build prefix as a text placeholder, as conda-build writes them.
- `nbprobe`: a C library, a program linked to it, and a ctypes module, compiled here, carrying
  the build prefix as a binary placeholder in both binaries.
- conda-forge's names where they differ from PyPI's (`python-tzdata`, `matplotlib-base` and its
  `matplotlib` metapackage, `jupyter_server`, ...), so that nothing can rely on the two agreeing.

Packages are .conda archives (zip of zstd tars), indexed with rattler.index.index_fs. Building
takes a minute, so the result is cached by a digest of everything it is made from:
`python tests/forge_channel.py CACHE_DIR` prints the channel folder (run as a process of its own,
because rattler's runtime has been seen to crash at interpreter exit).
"""

from __future__ import annotations

import csv
import email.parser
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import tomllib
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent / "forge"
PYLOCK = HERE / "pylock.toml"
PROBE_SOURCE = HERE / "nbprobe.c"
PYTHON_IMAGE = "python:3.11-slim"
PY = "3.11"
TIMESTAMP_MS = 1_767_225_600_000  # 2026-01-01: every package, so solves are the same on every machine
# conda-build's prefix placeholder: the build environment's path, padded to 255 characters.
PLACEHOLDER = ("/home/conda/feedstock_root/build_artifacts/nbship_1767225600/_h_env" + "_placehold" * 30)[:255]
# Where conda-forge names a package differently from PyPI (facts of conda-forge's feedstocks).
FORGE_NAMES = {
    "tzdata": "python-tzdata",
    "fastjsonschema": "python-fastjsonschema",
    "matplotlib": "matplotlib-base",
    "jupyter-server": "jupyter_server",
    "jupyter-core": "jupyter_core",
    "jupyter-client": "jupyter_client",
    "jupyter-events": "jupyter_events",
    "jupyter-server-terminals": "jupyter_server_terminals",
    "jupyterlab-server": "jupyterlab_server",
    "jupyterlab-pygments": "jupyterlab_pygments",
    "stack-data": "stack_data",
    "pure-eval": "pure_eval",
    "typing-extensions": "typing_extensions",
    "prometheus-client": "prometheus_client",
    "ipython-pygments-lexers": "ipython_pygments_lexers",
}
# conda-forge's metapackages over a differently named package.
METAPACKAGES = {"matplotlib": "matplotlib-base"}
# What a test of the Debian stdlib does not need in an environment (conda-forge's python drops its tests too).
_STDLIB_SKIP = re.compile(r"^(test|idlelib|tkinter|turtledemo|lib2to3/tests|__pycache__)(/|$)|/__pycache__(/|$)")
_MARKER_ENV = {
    "python_version": PY,
    "python_full_version": f"{PY}.2",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


@dataclass
class CondaPackage:
    name: str
    version: str
    build: str
    subdir: str  # "noarch" or "linux-64"
    depends: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)  # executable files
    links: dict[str, str] = field(default_factory=dict)  # symlink path -> target
    prefix_files: dict[str, str] = field(default_factory=dict)  # path -> "text" | "binary"
    noarch_python: bool = False
    entry_points: list[str] = field(default_factory=list)
    constrains: list[str] = field(default_factory=list)
    license: str = "BSD-3-Clause"

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"

    def index(self) -> dict[str, object]:
        index: dict[str, object] = {
            "name": self.name,
            "version": self.version,
            "build": self.build,
            "build_number": 0,
            "depends": sorted(self.depends),
            "license": self.license,
            "subdir": self.subdir,
            "timestamp": TIMESTAMP_MS,
        }
        if self.constrains:
            index["constrains"] = sorted(self.constrains)
        if self.subdir == "noarch":
            index["noarch"] = "python" if self.noarch_python else "generic"
        else:
            index.update(arch="x86_64", platform="linux")
        return index


# -- writing .conda archives ------------------------------------------------------------------


def _tar_zst(members: Iterable[tuple[str, bytes | None, int, str | None]]) -> bytes:
    import zstandard

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode, link in members:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode = TIMESTAMP_MS // 1000, mode
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                assert data is not None
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return zstandard.ZstdCompressor(level=3).compress(raw.getvalue())


def write_conda(package: CondaPackage, folder: Path) -> Path:
    paths = []
    for path in sorted({*package.files, *package.links}):
        if path in package.links:
            paths.append({"_path": path, "path_type": "softlink", "size_in_bytes": 0})
            continue
        data = package.files[path]
        entry: dict[str, object] = {
            "_path": path,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_in_bytes": len(data),
        }
        if path in package.prefix_files:
            entry.update(prefix_placeholder=PLACEHOLDER, file_mode=package.prefix_files[path])
        paths.append(entry)
    info: dict[str, bytes] = {
        "info/index.json": json.dumps(package.index(), indent=2, sort_keys=True).encode(),
        "info/paths.json": json.dumps({"paths": paths, "paths_version": 1}, indent=2).encode(),
        "info/files": "".join(f"{p['_path']}\n" for p in paths).encode(),
        "info/about.json": json.dumps({"summary": f"{package.name}, made by nbship's tests"}).encode(),
    }
    if package.prefix_files:
        lines = "".join(f"{PLACEHOLDER} {mode} {path}\n" for path, mode in sorted(package.prefix_files.items()))
        info["info/has_prefix"] = lines.encode()
    if package.noarch_python:
        link = {"noarch": {"type": "python", "entry_points": package.entry_points}, "package_metadata_version": 1}
        info["info/link.json"] = json.dumps(link, indent=2).encode()
    info_tar = _tar_zst((name, data, 0o644, None) for name, data in sorted(info.items()))
    pkg_tar = _tar_zst(
        (path, package.files.get(path), package.modes.get(path, 0o644), package.links.get(path))
        for path in sorted({*package.files, *package.links})
    )
    target = folder / package.subdir / f"{package.stem}.conda"
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        archive.writestr(f"info-{package.stem}.tar.zst", info_tar)
        archive.writestr(f"pkg-{package.stem}.tar.zst", pkg_tar)
    return target


# -- python, from the stand-in image ------------------------------------------------------------


def _patch(text: str, old: str, new: str, what: str) -> str:
    if old not in text:
        raise RuntimeError(f"the Debian {what} changed: cannot find {old!r}")
    return text.replace(old, new)


def python_package(image: str = PYTHON_IMAGE) -> CondaPackage:
    """conda's python, from the Debian CPython in `image` (copied out with tar, as a user could)."""
    out = subprocess.run(
        ["docker", "run", "--rm", image, "sh", "-c",
         f"python3 -c 'import platform; print(platform.python_version())' >&2; "
         f"tar -C / -cf - usr/bin/python{PY} usr/lib/python{PY}"],
        capture_output=True, check=True,
    )  # fmt: skip
    version = out.stderr.decode().strip().splitlines()[-1]
    package = CondaPackage("python", version, "h0_0_cpython", "linux-64", [], constrains=[f"python_abi {PY}.* *_cp311"])
    package.license = "Python-2.0"
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        for member in tar.getmembers():
            rel = member.name.removeprefix("usr/")
            if rel.startswith(f"lib/python{PY}/"):
                inner = rel[len(f"lib/python{PY}/") :]
                if _STDLIB_SKIP.search(inner) or inner == "EXTERNALLY-MANAGED":
                    continue
            if member.issym():
                if not member.linkname.startswith("/"):  # Debian's sitecustomize points into /etc: left out
                    package.links[rel] = member.linkname
            elif member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                package.files[rel] = handle.read()
                if member.mode & 0o111:
                    package.modes[rel] = 0o755
    lib = f"lib/python{PY}"
    # Python 3.11 runs the site module frozen into the binary (Debian's, which looks for
    # dist-packages), so the conda layout's site-packages is added where Debian lets a system do so.
    package.files[f"{lib}/sitecustomize.py"] = (
        b"import os, site, sys\n"
        b"site.addsitedir(os.path.join(sys.prefix, 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages'))\n"
    )
    sysconfig = package.files[f"{lib}/sysconfig.py"].decode()
    sysconfig = _patch(
        sysconfig,
        "            prefix_scheme = 'posix_local'",
        "            prefix_scheme = 'posix_prefix'",
        "sysconfig.py",
    )
    package.files[f"{lib}/sysconfig.py"] = sysconfig.encode()
    data = f"{lib}/_sysconfigdata__x86_64-linux-gnu.py"
    package.files[data] = re.sub(rb"'/usr(?=['/])", b"'" + PLACEHOLDER.encode(), package.files[data])
    package.prefix_files[data] = "text"
    package.links["bin/python3"] = f"python{PY}"
    package.links["bin/python"] = f"python{PY}"
    package.files[f"{lib}/site-packages/README.txt"] = (
        b"This directory exists so that 3rd party packages can be installed here.\n"
    )
    return package


# -- wheels -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wheel:
    name: str  # canonical PyPI name
    version: str
    path: Path

    @property
    def pure(self) -> bool:
        return self.path.name.endswith("-none-any.whl")


def pinned_wheels() -> list[tuple[str, str, str, str]]:
    """(name, version, url, sha256) of every pinned wheel: the pure one when a package has several."""
    document = tomllib.loads(PYLOCK.read_text())
    pinned = []
    for entry in document["packages"]:
        wheels = sorted(entry["wheels"], key=lambda w: (not w["url"].endswith("-none-any.whl"), w["url"]))
        wheel = wheels[0]
        pinned.append((canonicalize_name(entry["name"]), entry["version"], wheel["url"], wheel["hashes"]["sha256"]))
    return pinned


def download_wheels(folder: Path) -> list[Wheel]:
    folder.mkdir(parents=True, exist_ok=True)

    def fetch(item: tuple[str, str, str, str]) -> Wheel:
        name, version, url, sha256 = item
        target = folder / url.rsplit("/", 1)[1]
        if not target.is_file() or hashlib.sha256(target.read_bytes()).hexdigest() != sha256:
            with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - the pinned https URLs
                data = response.read()
            if hashlib.sha256(data).hexdigest() != sha256:
                raise RuntimeError(f"{url} does not have the pinned sha256")
            target.write_bytes(data)
        return Wheel(name, version, target)

    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(fetch, pinned_wheels()))


def forge_name(pypi_name: str) -> str:
    return FORGE_NAMES.get(pypi_name, pypi_name)


def _conda_spec(requirement: Requirement) -> str:
    name = forge_name(canonicalize_name(requirement.name))
    specifiers = ",".join(str(s).replace(" ", "") for s in requirement.specifier if s.operator != "===")
    return f"{name} {specifiers}" if specifiers else name


def _requires(metadata: email.message.Message, extras: set[str]) -> list[Requirement]:
    wanted = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        marker: Marker | None = requirement.marker
        if marker is None or any(marker.evaluate({**_MARKER_ENV, "extra": extra}) for extra in {"", *extras}):
            wanted.append(requirement)
    return wanted


def _entry_points(text: str) -> list[str]:
    points, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and section in {"console_scripts", "gui_scripts"}:
            name, _, target = line.partition("=")
            points.append(f"{name.strip()} = {target.strip()}")
    return points


def _script(entry_point: str) -> bytes:
    _, _, target = entry_point.partition(" = ")
    module, _, function = target.partition(":")
    return (
        f"#!{PLACEHOLDER}/bin/python\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n\n"
        f"from {module} import {function.split('.')[0]}\n\nif __name__ == '__main__':\n"
        f"    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])\n"
        f"    sys.exit({function}())\n"
    ).encode()


def convert_wheel(wheel: Wheel, metadata: Mapping[str, email.message.Message]) -> CondaPackage:
    """A wheel as conda-forge would package it: noarch: python when pure, else linux-64 for 3.11."""
    meta = metadata[wheel.name]
    depends: set[str] = set()
    for requirement in _requires(meta, set()):
        depends.add(_conda_spec(requirement))
        # conda has no extras: the packages an extra brings become dependencies (as conda-forge does).
        target = metadata.get(canonicalize_name(requirement.name))
        for extra_requirement in _requires(target, requirement.extras) if target and requirement.extras else ():
            if extra_requirement.marker is not None:
                depends.add(_conda_spec(extra_requirement))
    requires_python = (meta.get("Requires-Python") or "").replace(" ", "")
    site = "site-packages" if wheel.pure else f"lib/python{PY}/site-packages"
    if wheel.pure:
        depends.add(f"python {requires_python}" if requires_python else "python")
    else:
        depends.update({f"python >={PY},<{PY[:2]}{int(PY[2:]) + 1}.0a0", f"python_abi {PY}.* *_cp311"})
    package = CondaPackage(
        forge_name(wheel.name), wheel.version, "pyhd8ed1ab_0" if wheel.pure else "py311h0_0",
        "noarch" if wheel.pure else "linux-64", sorted(depends), noarch_python=wheel.pure,
    )  # fmt: skip
    with zipfile.ZipFile(wheel.path) as archive:
        dist_info = next(n.split("/")[0] for n in archive.namelist() if n.split("/")[0].endswith(".dist-info"))
        data_dir = dist_info.removesuffix(".dist-info") + ".data"
        moved: dict[str, str] = {}
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename
            executable = (info.external_attr >> 16) & 0o111
            if name.startswith(data_dir + "/"):
                kind, _, rest = name[len(data_dir) + 1 :].partition("/")
                if kind == "data":
                    target = rest
                elif kind == "scripts":
                    target = ("python-scripts/" if wheel.pure else "bin/") + rest
                    executable = 1
                else:  # purelib, platlib, headers (none here)
                    target = f"{site}/{rest}"
                moved[name] = os.path.relpath(target, site)
            else:
                target = f"{site}/{name}"
            data = archive.read(name)
            if kind_is_script(target) and data.startswith(b"#!python"):
                data = f"#!{PLACEHOLDER}/bin/python".encode() + data[len(b"#!python") :]
                package.prefix_files[target] = "text"
            package.files[target] = data
            if executable:
                package.modes[target] = 0o755
        record = f"{site}/{dist_info}/RECORD"
        rows = list(csv.reader(io.StringIO(package.files[record].decode())))
        rows = [[moved.get(row[0], row[0]), *row[1:]] for row in rows if row]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        package.files[record] = buffer.getvalue().encode()
        package.files[f"{site}/{dist_info}/INSTALLER"] = b"conda\n"
        points_file = f"{site}/{dist_info}/entry_points.txt"
        points = _entry_points(package.files[points_file].decode()) if points_file in package.files else []
    if wheel.pure:
        package.entry_points = points
    else:
        for point in points:
            script = f"bin/{point.split(' = ')[0]}"
            package.files[script], package.modes[script] = _script(point), 0o755
            package.prefix_files[script] = "text"
    return package


def kind_is_script(path: str) -> bool:
    return path.startswith(("bin/", "python-scripts/"))


def _metadata(wheel: Wheel) -> email.message.Message:
    with zipfile.ZipFile(wheel.path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        return email.parser.BytesParser().parsebytes(archive.read(name))


# -- the compiled package -----------------------------------------------------------------------


def probe_package(work: Path) -> CondaPackage:
    """A C library and a program linked to it, both carrying the build prefix (a binary placeholder)."""
    build = work / "nbprobe"
    (build / "lib").mkdir(parents=True)
    (build / "bin").mkdir()
    define = f'-DNBPROBE_PREFIX="{PLACEHOLDER}"'
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler: scripts/setup-test-machine.sh installs gcc")
    subprocess.run(
        [cc, "-O2", "-shared", "-fPIC", define, "-DNBPROBE_LIBRARY", "-o", str(build / "lib/libnbprobe.so"),
         str(PROBE_SOURCE)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [cc, "-O2", define, "-o", str(build / "bin/nbprobe"), str(PROBE_SOURCE), f"-L{build / 'lib'}", "-lnbprobe",
         "-Wl,-rpath,$ORIGIN/../lib"],
        check=True,
    )  # fmt: skip
    module = (
        '"""nbprobe: where the compiled library says its environment is (a binary prefix placeholder)."""\n'
        "import ctypes\nimport os\nimport sys\n\n"
        "_lib = ctypes.CDLL(os.path.join(sys.prefix, 'lib', 'libnbprobe.so'))\n"
        "_lib.nbprobe_prefix.restype = ctypes.c_char_p\n\n\n"
        "def prefix():\n    return _lib.nbprobe_prefix().decode()\n"
    )
    package = CondaPackage(
        "nbprobe", "1.0", "py311h0_0", "linux-64", [f"python >={PY},<3.12.0a0", f"python_abi {PY}.* *_cp311"]
    )
    for rel in ("lib/libnbprobe.so", "bin/nbprobe"):
        package.files[rel] = (build / rel).read_bytes()
        package.modes[rel] = 0o755
        package.prefix_files[rel] = "binary"
        assert PLACEHOLDER.encode() in package.files[rel]
    package.files[f"lib/python{PY}/site-packages/nbprobe.py"] = module.encode()
    return package


# -- the channel --------------------------------------------------------------------------------


def _digest(python_image_id: str) -> str:
    digest = hashlib.sha256()
    for path in (Path(__file__), PYLOCK, PROBE_SOURCE):
        digest.update(path.read_bytes())
    digest.update(python_image_id.encode())
    return digest.hexdigest()[:16]


def build_channel(target: Path, wheels_dir: Path) -> None:
    wheels = download_wheels(wheels_dir)
    metadata = {wheel.name: _metadata(wheel) for wheel in wheels}
    with tempfile.TemporaryDirectory(prefix="nbship-forge-") as tmp:
        packages = [python_package(), probe_package(Path(tmp))]
        packages.append(
            CondaPackage("python_abi", PY, "8_cp311", "linux-64", [], constrains=[f"python {PY}.* *_cpython"])
        )
        packages += [convert_wheel(wheel, metadata) for wheel in wheels]
        for meta, base in METAPACKAGES.items():
            version = next(w.version for w in wheels if w.name == meta)
            packages.append(CondaPackage(meta, version, "py311h0_0", "linux-64", [f"{base} {version}", "python"]))
        for package in packages:
            write_conda(package, target)
    (target / "noarch").mkdir(exist_ok=True)
    import asyncio

    import rattler.index

    result = rattler.index.index_fs(target, write_zst=False, write_shards=False)
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def ensure_channel(cache: Path) -> Path:
    """The channel folder under `cache`, built unless a channel of the same inputs is there."""
    image = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", PYTHON_IMAGE], capture_output=True, text=True, check=True
    ).stdout.strip()
    target = cache / f"channel-{_digest(image)}"
    if (target / ".complete").is_file():
        return target
    partial = Path(tempfile.mkdtemp(prefix="channel-", dir=cache))
    build_channel(partial, cache / "wheels")
    (partial / ".complete").write_text("")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def main(argv: list[str]) -> None:
    cache = Path(argv[0])
    cache.mkdir(parents=True, exist_ok=True)
    print(ensure_channel(cache))
    sys.stdout.flush()
    os._exit(0)  # rattler's runtime has been seen to crash while Python finalizes


if __name__ == "__main__":
    main(sys.argv[1:])
