"""The extra build that writes an SBOM into an image from the project's own Dockerfile
(commands/own_sbom.py): which base it names, and the Dockerfile it builds."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbship import contract as c
from nbship.commands.own_sbom import final_base, sbom_dockerfile
from nbship.project.detect import detect


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM python:3.11-slim\nRUN true\n", "python:3.11-slim"),
        ("from --platform=linux/amd64 debian:bookworm-slim AS run\n", "debian:bookworm-slim"),
        ("FROM python:3.11 AS build\nRUN make\nFROM python:3.11-slim\nCOPY --from=build /a /a\n", "python:3.11-slim"),
        ("FROM python:3.11 AS build\nFROM build\n", None),  # a stage of its own: no image to name
        ("ARG BASE=python:3.11\nFROM $BASE\n", None),
        ("RUN true\n", None),
    ],
)
def test_the_last_stage_names_the_base(text: str, expected: str | None) -> None:
    assert final_base(text) == expected


@given(st.text())
def test_any_dockerfile_text_gives_a_base_or_none(text: str) -> None:
    found = final_base(text)
    assert found is None or (found in text and "$" not in found)


def test_the_sbom_build_keeps_the_image_and_adds_one_copy(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    project = detect(tmp_path)
    text = sbom_dockerfile("me/analysis:1", project, "it's:odd", {c.SOURCE_DATE_EPOCH_ENV: "1"})
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert stages[1:] == ["FROM me/analysis:1 AS scan", "FROM me/analysis:1"]
    assert "USER root" in text.split("FROM me/analysis:1 AS scan\n", 1)[1].split("FROM ", 1)[0]
    final = text.split("FROM me/analysis:1\n", 1)[1]
    assert final == f"COPY --from=scan /tmp/nbship-sbom/sbom.spdx.json {c.SBOM}\n"  # no USER, CMD or ENV of ours
    run = next(line for line in text.splitlines() if line.startswith("RUN "))
    shell, flag, script = json.loads(run[len("RUN ") :])  # exec form: whatever SHELL the image set
    assert (shell, flag) == ("/bin/sh", "-c")
    assert "it's:odd" in shlex.split(script.split("; ", 1)[1]) and f"ARG {c.SOURCE_DATE_EPOCH_ENV}" in text
