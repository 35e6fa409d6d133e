"""The wheels that seed the environment's pip: the base Python's own, as ensurepip would use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from nbship.payload import seed_wheels

WHEEL = "{}-{}-py3-none-any.whl"


def test_the_newest_wheel_of_the_first_folder_that_has_one(tmp_path: Path) -> None:
    distro, bundled = tmp_path / "python-wheels", tmp_path / "_bundled"
    distro.mkdir()
    bundled.mkdir()
    for version in ("9.0.1", "23.0.1", "23.0"):
        (distro / WHEEL.format("pip", version)).touch()
    (bundled / WHEEL.format("pip", "24.0")).touch()
    (bundled / WHEEL.format("setuptools", "65.5.0")).touch()
    (distro / "pipx-1.0-py3-none-any.whl").touch()  # another project whose name starts alike
    folders = [str(distro), str(bundled)]
    assert seed_wheels.wheel_for("pip", folders) == str(distro / WHEEL.format("pip", "23.0.1"))
    assert seed_wheels.wheel_for("setuptools", folders) == str(bundled / WHEEL.format("setuptools", "65.5.0"))
    assert seed_wheels.wheel_for("wheel", folders) == "wheel"  # none shipped: uv takes it from the index
    assert seed_wheels.wheel_for("pip", [str(tmp_path / "missing")]) == "pip"


def test_a_path_with_a_blank_is_not_printed(tmp_path: Path) -> None:
    folder = tmp_path / "with space"
    folder.mkdir()
    (folder / WHEEL.format("pip", "24.0")).touch()
    assert seed_wheels.wheel_for("pip", [str(folder)]) == "pip"


def test_this_pythons_own_wheels_or_the_names(tmp_path: Path) -> None:
    script = Path(seed_wheels.__file__)
    done = subprocess.run([sys.executable, str(script), "pip", "setuptools"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.split()
    assert len(printed) == 2
    for name, argument in zip(("pip", "setuptools"), printed, strict=True):
        assert argument == name or (Path(argument).is_file() and Path(argument).name.startswith(f"{name}-"))
    usage = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr


@given(st.lists(st.from_regex(r"[A-Za-z0-9._+-]{1,20}(\.whl)?", fullmatch=True), max_size=8))
def test_any_folder_gives_a_name_or_one_of_its_wheels(names: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            Path(folder, name).touch()
        chosen = seed_wheels.wheel_for("pip", [folder])
        assert chosen == "pip" or (Path(chosen).parent == Path(folder) and Path(chosen).name in names)
