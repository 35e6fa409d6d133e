"""Installs nbship.lock into its final prefix. Runs inside the image build, in a throwaway stage
that has py-rattler and nothing of nbship (/opt/nbship/build/nbship-conda-install, one of
nbship's support files), so it imports only the standard library and rattler.

    python nbship-conda-install LOCK PREFIX CACHE_DIR PIP_DIR

No solve happens here: the lock names every package by URL and hash. TARGETARCH (set by BuildKit)
picks the lock's platform. When the secret file named by NBSHIP_CHANNEL_MAP exists, it maps channel
URLs as locked to where the build reaches them (a host folder nbship serves for the build).
After the install, files no notebook needs are deleted; what that saved is printed and kept in
conda-meta/nbship-strip.json. The lock's PyPI packages (the pip: section, and nbship's JupyterLab
for channels without one) are written into PIP_DIR as hashed requirements, for the next stage's
installer: pip.txt and jupyterlab.txt.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import rattler

_PLATFORMS = {"amd64": "linux-64", "arm64": "linux-aarch64"}
# Safe to delete from a runtime environment: static libraries (only linkers read them), source
# maps of bundled JavaScript, caches, and conda's own bookkeeping of the install transaction.
_STRIP_SUFFIXES = (".a", ".js.map", ".css.map")
_STRIP_DIRS = ("pkgs", "conda-meta/history", "share/doc", "share/man", "share/info", "share/gtk-doc")


def _size(root: Path) -> tuple[int, int]:
    total = count = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                total += path.stat().st_size
                count += 1
    return total, count


def strip(prefix: Path) -> tuple[int, int]:
    """Deletes what the runtime never reads; returns (bytes, files) removed."""
    removed = files = 0
    for folder, dirs, names in os.walk(prefix):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            path = Path(folder) / name
            if name.endswith(_STRIP_SUFFIXES) and not path.is_symlink():
                removed += path.stat().st_size
                files += 1
                path.unlink()
    for rel in _STRIP_DIRS:
        target = prefix / rel
        if target.is_dir() and not target.is_symlink():
            size, count = _size(target)
            removed, files = removed + size, files + count
            for folder, dirs, names in os.walk(target, topdown=False):
                for name in names:
                    Path(folder, name).unlink()
                for name in dirs:
                    Path(folder, name).rmdir()
            target.rmdir()
        elif target.is_file():
            removed, files = removed + target.stat().st_size, files + 1
            target.unlink()
    return removed, files


def _records(lock_path: Path, platform: str) -> list[rattler.RepoDataRecord]:
    lock = rattler.LockFile.from_path(lock_path)
    environment = lock.default_environment()
    if environment is None or platform not in {p.name for p in lock.platforms()}:
        sys.exit(f"nbship: {lock_path.name} has no packages for {platform}; run `nbship lock --platform {platform}`")
    records = environment.conda_repodata_records().get(platform) or []
    mapping_file = os.environ.get("NBSHIP_CHANNEL_MAP", "")
    if mapping_file and Path(mapping_file).is_file() and Path(mapping_file).stat().st_size:
        mapping: dict[str, str] = json.loads(Path(mapping_file).read_text())
        for record in records:
            for locked, reachable in mapping.items():
                if record.url.startswith(locked):
                    record.url = reachable + record.url[len(locked) :]
    return records


def pip_requirements(lock_path: Path, platform: str, environment: str) -> str:
    """The environment's PyPI packages as `name @ URL --hash=sha256:...` lines (pip and uv read them)."""
    found = rattler.LockFile.from_path(lock_path).environment(environment)
    if found is None:
        return ""
    lines = []
    for package in found.pypi_packages().get(platform, []):
        url, _, sha256 = str(package.location).partition("#sha256=")
        lines.append(f"{package.name} @ {url} --hash=sha256:{sha256}\n")
    return "".join(lines)


def _leave(code: int) -> None:
    # rattler's runtime has been seen to crash while Python finalizes: leave without finalizing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _fail(exc: Exception) -> None:
    cause = " ".join(str(exc).split())
    print(f"nbship-conda: the locked packages could not be installed: {cause}", file=sys.stderr)
    if re.search(r"\b40[13] (Unauthorized|Forbidden)", cause):
        # Said in nbship's own words: the build error is then this line.
        print(
            "nbship: the channel refused the download; give its credentials with --channel-auth FILE", file=sys.stderr
        )
    _leave(1)


def main(argv: list[str]) -> None:
    lock_path, prefix, cache, pip_dir = Path(argv[0]), Path(argv[1]), Path(argv[2]), Path(argv[3])
    arch = os.environ.get("TARGETARCH") or {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "")
    platform = _PLATFORMS.get(arch)
    if platform is None:
        sys.exit(f"nbship: conda environments are built for linux-64 and linux-aarch64, not {arch or 'this machine'}")
    records = _records(lock_path, platform)
    try:
        asyncio.run(
            rattler.install(
                records,
                target_prefix=prefix,
                cache_dir=cache,
                platform=rattler.Subdir(platform),
                execute_link_scripts=False,
                show_progress=False,
                client=rattler.Client.default_client(),  # reads RATTLER_AUTH_FILE: the credentials secret
            )
        )
    except Exception as exc:  # the build log gets the cause, not a traceback
        _fail(exc)
    before, _count = _size(prefix)
    removed, files = strip(prefix)
    (prefix / "CACHEDIR.TAG").unlink(missing_ok=True)
    # Kept in the image, so the gain can be read later: docker run IMAGE cat .../nbship-strip.json
    report = {"platform": platform, "packages": len(records), "bytes_before": before}
    report.update(bytes_removed=removed, files_removed=files)
    (prefix / "conda-meta").mkdir(exist_ok=True)
    (prefix / "conda-meta" / "nbship-strip.json").write_text(json.dumps(report, sort_keys=True) + "\n")
    pip_dir.mkdir(parents=True, exist_ok=True)
    for environment, name in (("default", "pip.txt"), ("nbship-jupyterlab", "jupyterlab.txt")):
        (pip_dir / name).write_text(pip_requirements(lock_path, platform, environment))
    print(
        f"nbship-conda: installed {len(records)} packages for {platform} into {prefix}; stripped {files} files "
        f"({removed / 1e6:.1f} MB of {before / 1e6:.1f} MB)",
    )
    _leave(0)


if __name__ == "__main__":
    main(sys.argv[1:])
