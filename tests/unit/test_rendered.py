"""The rendered Dockerfile's cache (commands/rendered.py): the text it gives back is the render's,
for every plan; any change of the plan, of nbship's files or of Jinja's is another entry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbship import cachedir
from nbship.commands import rendered
from nbship.project.plan import BuildPlan
from nbship.render.dockerfile import render_dockerfile

from .helpers import plan_of

PROJECTS = Path(__file__).resolve().parent.parent / "projects"
# Fixture projects nbship renders a Dockerfile for (the others bring their own, or need a solve).
RENDERED = ("binder-hidden", "binder-kinds", "binder-scripts", "package-project", "pipfile-lock", "python39", "tiny")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBSHIP_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", RENDERED)
def test_the_cached_text_is_the_render(name: str) -> None:
    plan = plan_of(PROJECTS / name)
    first = rendered.dockerfile(plan)
    path = rendered.entry(plan)
    assert path is not None and path.read_text(encoding="utf-8") == first == render_dockerfile(plan)
    assert rendered.dockerfile(plan_of(PROJECTS / name)) == first  # detected again: the same entry
    assert rendered.entry(plan_of(PROJECTS / name)) == path


def _changes() -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "uid": st.integers(min_value=1, max_value=2**31 - 1),
            "strip": st.booleans(),
            "installer": st.sampled_from(["uv", "pip"]),
            "buildkit": st.booleans(),
            "has_data": st.booleans(),
            "base_image": st.sampled_from(["python:3.11-slim", "python:3.12-slim", "debian:bookworm-slim"]),
            "strip_keep": st.lists(st.sampled_from(["gcc", "cmake", "make"]), unique=True).map(tuple),
            "user": st.sampled_from(["jovyan", "researcher"]),
        },
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=_changes(), other=_changes())
def test_a_changed_plan_never_reads_another_plans_text(changes: dict[str, object], other: dict[str, object]) -> None:
    base = plan_of(PROJECTS / "binder-kinds")
    one, two = dataclasses.replace(base, **changes), dataclasses.replace(base, **other)  # type: ignore[arg-type]
    rendered.dockerfile(one)
    assert rendered.dockerfile(two) == render_dockerfile(two)
    assert (rendered.entry(one) == rendered.entry(two)) == (one == two)


class _Opaque:
    """A value whose repr does not show its state."""


def test_a_plan_its_repr_cannot_tell_is_rendered_and_never_kept() -> None:
    plan = plan_of(PROJECTS / "tiny")
    opaque: BuildPlan = dataclasses.replace(plan, labels=(("x", _Opaque()),))  # type: ignore[arg-type]
    assert rendered.entry(opaque) is None


def test_nbship_or_jinja_changing_is_another_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_of(PROJECTS / "tiny")
    before = rendered.entry(plan)
    monkeypatch.setattr(rendered, "own_digest", lambda: "another nbship")
    assert rendered.entry(plan) != before
    monkeypatch.setattr(rendered, "own_digest", cachedir.own_digest)
    assert rendered.entry(plan) == before
    monkeypatch.setattr(rendered, "_jinja", lambda: "another jinja")
    assert rendered.entry(plan) != before


def test_an_unreadable_entry_is_rendered_again(tmp_path: Path) -> None:
    plan = plan_of(PROJECTS / "tiny")
    path = rendered.entry(plan)
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe not text")
    assert rendered.dockerfile(plan) == render_dockerfile(plan)


def test_the_cache_keeps_the_newest_entries() -> None:
    base = plan_of(PROJECTS / "tiny")
    for uid in range(1000, 1000 + rendered.KEEP + 5):
        rendered.dockerfile(dataclasses.replace(base, uid=uid))
    entries = list(rendered.entry(base).parent.glob("*.Dockerfile"))  # type: ignore[union-attr]
    assert len(entries) == rendered.KEEP
    newest = rendered.entry(dataclasses.replace(base, uid=1000 + rendered.KEEP + 4))
    assert newest in entries
