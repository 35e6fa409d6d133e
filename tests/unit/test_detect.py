"""detect(): how a folder with the Binder conventions becomes a Project."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from nbship.errors import ExitCode, InputFileError, ProjectError
from nbship.project.detect import Project, detect
from nbship.project.identity import slugify
from nbship.project.kinds.apt import AptInput
from nbship.project.kinds.package import PackageInput
from nbship.project.kinds.requirements import RequirementsInput
from nbship.project.kinds.runtime import RuntimeInput

from .helpers import MakeProject, write_files


def found(project: Project) -> dict[str, Path]:
    """Each detected input kind and the file it was read from."""
    return {item.kind: item.files[0] for item in project.inputs}


def requirements(project: Project) -> RequirementsInput:
    item = project.input(RequirementsInput)
    assert item is not None
    return item


def runtime_python(project: Project) -> str | None:
    item = project.input(RuntimeInput)
    assert item is not None
    return item.runtime.python


# ---------------------------------------------------------------------------------------------
# The folder itself
# ---------------------------------------------------------------------------------------------


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="does not exist") as info:
        detect(tmp_path / "nope")
    assert str(tmp_path / "nope") in info.value.message
    assert info.value.exit_code == ExitCode.PROJECT


def test_file_instead_of_folder(tmp_path: Path) -> None:
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text("{}", encoding="utf-8")
    with pytest.raises(ProjectError, match="is a file, not a project folder") as info:
        detect(notebook)
    assert info.value.exit_code == ExitCode.PROJECT


def test_empty_folder_is_a_project_with_defaults(make_project: MakeProject) -> None:
    root = make_project(name="My Analysis")
    project = detect(root)
    assert project.root == root.resolve()
    assert project.name == "My Analysis"
    assert project.slug == "my-analysis"
    assert project.config_dir == project.root
    assert project.settings_file is None
    assert project.inputs == () and project.ignored == ()
    assert project.dockerignore is None
    assert project.data_dir is None
    assert project.notebooks == ()


def test_relative_path_is_resolved(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project({"a.ipynb": "{}"})
    monkeypatch.chdir(root)
    project = detect(Path("."))
    assert project.root == root.resolve()
    assert project.name == root.name
    assert project.root.is_absolute()


def test_files_found_at_the_root(make_project: MakeProject) -> None:
    root = make_project(
        {
            "requirements.txt": "numpy\n",
            "runtime.txt": "python-3.10\n",
            "apt.txt": "ffmpeg\n",
            "postBuild": "echo hi\n",
            "start": '#!/bin/bash\nexec "$@"\n',
            "Dockerfile": "FROM scratch\n",
            ".dockerignore": "*.csv\n",
            "setup.py": "",
        }
    )
    project = detect(root)
    assert requirements(project).names == {"numpy"}
    assert runtime_python(project) == "3.10"
    apt = project.input(AptInput)
    assert apt is not None and apt.packages == ("ffmpeg",)
    assert found(project) == {
        "dockerfile": project.root / "Dockerfile",
        "requirements": project.root / "requirements.txt",
        "package": project.root / "setup.py",
        "runtime": project.root / "runtime.txt",
        "apt": project.root / "apt.txt",
        "postbuild": project.root / "postBuild",
        "start": project.root / "start",
    }
    assert project.dockerignore == project.root / ".dockerignore"


@pytest.mark.parametrize("name", ["requirements.txt", "apt.txt", "Dockerfile", "binder/postBuild"])
def test_a_folder_with_a_file_name_is_an_error_not_silently_no_file(make_project: MakeProject, name: str) -> None:
    with pytest.raises(InputFileError, match=rf"^{re.escape(name)}: it is a folder, not a file\."):
        detect(make_project({f"{name}/": ""}))


# ---------------------------------------------------------------------------------------------
# binder/ and .binder/: when present, root files are ignored entirely
# ---------------------------------------------------------------------------------------------

# Root files that would fail or change the project if they were read.
ROOT_DECOYS = {
    "requirements.txt": "numpy=1.0\n",
    "runtime.txt": "julia-1.9\n",
    "install.R": "stop('not this one')\n",
    "DESCRIPTION": "not a description\n",
    "apt.txt": "NOT VALID\n",
    "environment.yml": "dependencies: [python]\n",
    "postBuild": "exit 1\n",
    "start": "#!/bin/sh\necho no exec\n",
    "Dockerfile": "FROM scratch\n",
    "pyproject.toml": '[project]\nname = "root"\nversion = "1"\nrequires-python = ">=3.13"\n',
}


@pytest.mark.parametrize("config", ["binder", ".binder"])
@pytest.mark.parametrize("decoy", sorted(ROOT_DECOYS))
def test_root_file_ignored_when_config_folder_exists(make_project: MakeProject, config: str, decoy: str) -> None:
    root = make_project({decoy: ROOT_DECOYS[decoy], f"{config}/": ""})
    project = detect(root)
    assert project.config_dir == project.root / config
    assert project.inputs == ()


@pytest.mark.parametrize("config", ["binder", ".binder"])
def test_config_folder_files_are_used(make_project: MakeProject, config: str) -> None:
    root = make_project(
        {
            **ROOT_DECOYS,
            f"{config}/requirements.txt": "pandas\n",
            f"{config}/runtime.txt": "python-3.9\n",
            f"{config}/apt.txt": "curl\n",
            f"{config}/postBuild": "echo ok\n",
            f"{config}/start": '#!/bin/sh\nexec "$@"\n',
        }
    )
    project = detect(root)
    cfg = project.root / config
    assert requirements(project).names == {"pandas"}
    assert runtime_python(project) == "3.9"
    apt = project.input(AptInput)
    assert apt is not None and apt.packages == ("curl",)
    assert found(project) == {
        "requirements": cfg / "requirements.txt",
        "runtime": cfg / "runtime.txt",
        "apt": cfg / "apt.txt",
        "postbuild": cfg / "postBuild",
        "start": cfg / "start",
    }
    assert project.input(PackageInput) is None


def test_settings_and_dockerignore_and_data_stay_at_the_root_with_binder(make_project: MakeProject) -> None:
    root = make_project(
        {"binder/requirements.txt": "numpy\n", "nbship.toml": 'name = "sst"\n', ".dockerignore": "x\n", "data/a": "1"}
    )
    project = detect(root)
    assert project.name == "sst"
    assert project.settings_file == project.root / "nbship.toml"
    assert project.dockerignore == project.root / ".dockerignore"
    assert project.data_dir == project.root / "data"


def test_both_binder_and_dot_binder_is_an_error(make_project: MakeProject) -> None:
    root = make_project({"binder/requirements.txt": "numpy\n", ".binder/requirements.txt": "pandas\n"})
    with pytest.raises(ProjectError) as info:
        detect(root)
    assert "binder/" in info.value.message
    assert ".binder/" in info.value.message
    assert "Keep one of them" in info.value.message
    assert info.value.exit_code == ExitCode.PROJECT


def test_binder_as_a_file_is_not_a_config_folder(make_project: MakeProject) -> None:
    project = detect(make_project({"binder": "not a folder", "requirements.txt": "numpy\n"}))
    assert project.config_dir == project.root
    assert project.input(RequirementsInput) is not None


# ---------------------------------------------------------------------------------------------
# Errors in project files surface with the project-relative path
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "prefix"),
    [
        pytest.param({"requirements.txt": "numpy\nnumpy=1.2\n"}, "requirements.txt, line 2: ", id="requirements"),
        pytest.param({"binder/requirements.txt": "numpy=1.2\n"}, "binder/requirements.txt, line 1: ", id="binder req"),
        pytest.param({"runtime.txt": "julia-1.9\n"}, "runtime.txt, line 1: ", id="runtime"),
        pytest.param({".binder/runtime.txt": "\n# c\nbad\n"}, ".binder/runtime.txt, line 3: ", id="dot-binder runtime"),
        pytest.param({"apt.txt": "curl\nBad\n"}, "apt.txt, line 2: ", id="apt"),
        pytest.param({"binder/apt.txt": "Bad\n"}, "binder/apt.txt, line 1: ", id="binder apt"),
        pytest.param(
            {"pyproject.toml": '[project]\nname = "x"\nrequires-python = "3.10+"\n'},
            "pyproject.toml: requires-python '3.10+' is not a valid version specifier",
            id="requires-python",
        ),
    ],
)
def test_input_errors_name_the_project_file(make_project: MakeProject, files: dict[str, str], prefix: str) -> None:
    with pytest.raises(InputFileError) as info:
        detect(make_project(files))
    assert info.value.message.startswith(prefix)


def test_broken_pyproject_is_reported(make_project: MakeProject) -> None:
    # Settings are read first, and name the file relative to the project, like every other input error.
    root = make_project({"pyproject.toml": "[project\n"})
    with pytest.raises(InputFileError) as info:
        detect(root)
    assert info.value.message.startswith("pyproject.toml, line 1: this is not valid TOML")


# ---------------------------------------------------------------------------------------------
# start scripts must hand over to the command they are given
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        pytest.param('#!/bin/bash\nexport DATA=/data\nexec "$@"\n', id="exec $@"),
        pytest.param('#!/bin/sh\nexec "${@}"\n', id="exec ${@}"),
        pytest.param('#!/bin/bash\nset -e\nif true; then\n    exec  "$@"\nfi\n', id="indented, extra space"),
    ],
)
def test_start_script_that_execs(make_project: MakeProject, script: str) -> None:
    project = detect(make_project({"start": script}))
    assert found(project) == {"start": project.root / "start"}


@pytest.mark.parametrize(
    ("rel", "script"),
    [
        pytest.param("start", "#!/bin/bash\njupyter lab\n", id="runs its own server"),
        pytest.param("start", "#!/bin/bash\nexport X=1\n", id="never execs"),
        pytest.param("start", "#!/bin/bash\nexec $@\n", id="unquoted"),
        pytest.param("start", "", id="empty"),
        pytest.param("binder/start", '#!/bin/sh\n"$@"\n', id="in binder, no exec"),
    ],
)
def test_start_script_without_exec_is_an_error(make_project: MakeProject, rel: str, script: str) -> None:
    with pytest.raises(InputFileError) as info:
        detect(make_project({rel: script}))
    error = info.value
    assert error.path == rel
    assert error.line is None
    assert error.message.startswith(f"{rel}: the start script does not run the command it is given")
    assert error.message.endswith('End it with the line: exec "$@"')


# ---------------------------------------------------------------------------------------------
# Notebooks and data
# ---------------------------------------------------------------------------------------------


def test_notebooks_found_recursively_outside_skipped_folders(make_project: MakeProject) -> None:
    root = make_project(
        {
            "a.ipynb": "{}",
            "sub/b.ipynb": "{}",
            "sub/deep/er/c.ipynb": "{}",
            "sub/notes.md": "",
            "script.py": "",
            "notebook.ipynb.bak": "",
            ".ipynb_checkpoints/a-checkpoint.ipynb": "{}",
            "sub/.ipynb_checkpoints/b-checkpoint.ipynb": "{}",
            ".git/objects/x.ipynb": "{}",
            ".venv/lib/y.ipynb": "{}",
            "venv/lib/y.ipynb": "{}",
            "node_modules/pkg/z.ipynb": "{}",
            "sub/__pycache__/w.ipynb": "{}",
            ".nbship/delivered.ipynb": "{}",
        }
    )
    project = detect(root)
    assert [project.rel(path) for path in project.notebooks] == ["a.ipynb", "sub/b.ipynb", "sub/deep/er/c.ipynb"]


def test_notebooks_in_symlinked_folders_are_not_followed(make_project: MakeProject, tmp_path: Path) -> None:
    outside = write_files(tmp_path / "outside", {"secret.ipynb": "{}"})
    root = make_project({"a.ipynb": "{}"})
    os.symlink(outside, root / "linked")
    assert [p.name for p in detect(root).notebooks] == ["a.ipynb"]


def test_data_folder_detected(make_project: MakeProject) -> None:
    project = detect(make_project({"data/sst.nc": "x"}))
    assert project.data_dir == project.root / "data"


def test_empty_data_folder_detected(make_project: MakeProject) -> None:
    project = detect(make_project({"data/": ""}))
    assert project.data_dir == project.root / "data"


@pytest.mark.parametrize(
    "files",
    [{}, {"data": "a file"}, {"Data/x": "1"}, {"sub/data/x": "1"}],
    ids=["none", "file", "other case", "nested"],
)
def test_no_data_folder(make_project: MakeProject, files: dict[str, str]) -> None:
    assert detect(make_project(files)).data_dir is None


def test_symlinked_data_folder_is_ignored(make_project: MakeProject, tmp_path: Path) -> None:
    target = write_files(tmp_path / "bigdata", {"x.nc": "1"})
    root = make_project()
    os.symlink(target, root / "data")
    assert detect(root).data_dir is None


# ---------------------------------------------------------------------------------------------
# Names and ids
# ---------------------------------------------------------------------------------------------


def test_project_id_differs_for_two_folders_with_the_same_name(tmp_path: Path) -> None:
    one = detect(write_files(tmp_path / "alice" / "analysis", {}))
    two = detect(write_files(tmp_path / "bob" / "analysis", {}))
    assert one.name == two.name == "analysis"
    assert one.slug == two.slug == "analysis"
    assert one.project_id != two.project_id
    assert one.project_id.startswith("analysis-")
    assert two.project_id.startswith("analysis-")


def test_project_id_is_stable_for_one_folder(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project()
    monkeypatch.chdir(root.parent)
    assert detect(root).project_id == detect(Path(root.name)).project_id


@pytest.mark.parametrize(
    ("files", "name", "slug"),
    [
        pytest.param(
            {"nbship.toml": 'name = "Sea Surface Temperature"\n'},
            "Sea Surface Temperature",
            "sea-surface-temperature",
            id="nbship.toml",
        ),
        pytest.param({"pyproject.toml": '[tool.nbship]\nname = "sst_2024"\n'}, "sst_2024", "sst-2024", id="pyproject"),
        pytest.param({}, "proj", "proj", id="folder name"),
    ],
)
def test_name_from_settings(make_project: MakeProject, files: dict[str, str], name: str, slug: str) -> None:
    project = detect(make_project(files))
    assert (project.name, project.slug) == (name, slug)
    assert project.project_id.startswith(f"{slug}-")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("analysis", "analysis"),
        ("My Project!", "my-project"),
        ("Data_2024", "data-2024"),
        ("  --Weird__Name--  ", "weird-name"),
        ("a.b.c", "a-b-c"),
        ("___", "project"),
        ("", "project"),
        ("Étude", "tude"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug
