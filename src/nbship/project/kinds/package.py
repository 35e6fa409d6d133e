"""The project itself as a Python package: pyproject.toml with [project]/[build-system], or setup.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nbship.errors import InputFileError
from nbship.project.kinds.base import Fragment, Ignored, Input, InputBase, Layout, PlanContext, PythonHint
from nbship.project.kinds.pipfile import PipfileInput
from nbship.project.python import DEFAULT_PYTHON, KNOWN_PYTHONS, for_specifier
from nbship.project.text import load_toml

if TYPE_CHECKING:
    # packaging is imported where pyproject.toml is read: a project without one does not load it.
    from packaging.specifiers import SpecifierSet

name = "package"

# From the project's sources, after the environment; with a pip lock its dependencies are there
# already, pinned and hashed, so only the project itself is installed.
_FRAGMENT = """
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    cd {{ content_dir }}; {{ install }}{% if locked %} --no-deps{% endif %} {{ content_dir }}{{ strip }}"""


@dataclass(frozen=True)
class PackageInput(InputBase):
    kind: ClassVar[str] = name
    path: Path  # pyproject.toml or setup.py
    display: str
    requires_python: SpecifierSet | None
    dependency_names: frozenset[str]

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.path,)

    def provides(self) -> frozenset[str]:
        return self.dependency_names

    def python_hint(self) -> PythonHint | None:
        spec = self.requires_python
        if spec is None:
            return None
        version = for_specifier(spec)
        if version is None:
            return PythonHint(
                None,
                f"requires-python {spec}",
                rank=30,
                problem=f"{self.display}: requires-python {spec} allows none of the Python versions nbship can use "
                f'({", ".join(KNOWN_PYTHONS)}). Widen it, or set python = "3.X" in nbship.toml.',
            )
        if version == DEFAULT_PYTHON:
            return PythonHint(version, f"requires-python {spec} allows it", rank=30)
        return PythonHint(version, f"lowest version requires-python {spec} allows", rank=30)

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        return (Fragment("project", _FRAGMENT, {"locked": ctx.has("pip-lock")}),)


def _dependency_names(deps: Any) -> frozenset[str]:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    names: set[str] = set()
    for dep in deps if isinstance(deps, list) else []:
        try:
            names.add(canonicalize_name(Requirement(str(dep)).name))
        except InvalidRequirement:
            continue  # pip reports it at install time, with its own words
    return frozenset(names)


def parse_package(folder: Path, display_root: Path) -> PackageInput | None:
    pyproject = folder / "pyproject.toml"
    setup_py = folder / "setup.py"
    if pyproject.is_file():
        display = pyproject.relative_to(display_root).as_posix()
        data, _ = load_toml(pyproject, display)
        project = data.get("project")
        if isinstance(project, dict) or "build-system" in data:
            from packaging.specifiers import InvalidSpecifier, SpecifierSet

            spec: SpecifierSet | None = None
            raw = project.get("requires-python") if isinstance(project, dict) else None
            if raw is not None:
                try:
                    spec = SpecifierSet(str(raw))
                except InvalidSpecifier as exc:
                    raise InputFileError(
                        display,
                        None,
                        f"requires-python '{raw}' is not a valid version specifier",
                        "Write it like '>=3.10'.",
                    ) from exc
            deps = project.get("dependencies", []) if isinstance(project, dict) else []
            return PackageInput(pyproject, display, spec, _dependency_names(deps))
    if setup_py.is_file():
        return PackageInput(setup_py, setup_py.relative_to(display_root).as_posix(), None, frozenset())
    return None


def detect(layout: Layout, found: tuple[Input, ...]) -> PackageInput | Ignored | None:
    package = parse_package(layout.config_dir, layout.root)
    pipfile = next((item for item in found if isinstance(item, PipfileInput)), None)
    if package is None or pipfile is None:
        return package
    # As on Binder: with a Pipfile, the project is a package to install only if the Pipfile says so
    # (then the Pipfile's entry installs it).
    if any(local.path == layout.display(package.path.parent) for local in pipfile.local):
        return None
    return Ignored(
        package.path,
        f"{package.display} is not installed: with {layout.display(pipfile.files[0])}, the project is installed "
        'only when the Pipfile lists it as a path (as on Binder): add `project = {path = ".", editable = true}` '
        "to its [packages].",
    )
