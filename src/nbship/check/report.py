"""A check's report as text lines (people), JSON and JUnit XML (CI systems)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from nbship.check.results import CheckReport, NotebookResult, Status

STATUSES: tuple[Status, ...] = ("passed", "failed", "timed out", "differs")
JSON_FORMAT = 1  # bumped when a key changes meaning or goes away
_INDENT = " " * 18
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _where(result: NotebookResult) -> str:
    if result.cell is None:
        return ""
    count = f" (In [{result.execution_count}])" if result.execution_count is not None else ""
    return f"cell {result.cell}{count}"


def headline(result: NotebookResult) -> str:
    """What happened, in one line: for a failure the cell, the error type and its message."""
    where = _where(result)
    prefix = f"{where}: " if where else ""
    if result.status == "timed out" and result.error is not None:
        return f"{prefix}{result.error.message}"
    if result.error is not None:
        message = result.error.message.strip().split("\n", 1)[0]
        return f"{prefix}{result.error.type}: {message}" if message else f"{prefix}{result.error.type}"
    if result.comparison is not None and result.comparison.differences:
        count = len(result.comparison.differences)
        return f"outputs differ in {count} of {result.comparison.cells_compared} compared cells"
    return ""


def _difference_lines(result: NotebookResult) -> list[str]:
    if result.comparison is None:
        return []
    lines = []
    for diff in result.comparison.differences:
        count = f" (In [{diff.execution_count}])" if diff.execution_count is not None else ""
        lines.append(f"cell {diff.cell}{count} {diff.what}: committed {diff.committed!r}, now {diff.fresh!r}")
    return lines


def text_lines(report: CheckReport) -> list[str]:
    """One line per notebook (status, duration, path, what happened), details indented below it,
    then a summary line."""
    lines: list[str] = []
    for result in report.notebooks:
        what = headline(result)
        lines.append(f"{result.status:<10} {result.duration:6.1f}s  {result.path}" + (f"  {what}" if what else ""))
        details: list[str] = []
        if result.error is not None and result.status == "failed":
            details += list(result.error.relevant)
        details += _difference_lines(result)
        if report.compared and result.comparison is not None and result.comparison.cells_compared == 0:
            details.append("no committed outputs to compare")
        if result.note:
            details.append(f"note: {result.note}")
        lines += [f"{_INDENT}{line}" for line in details]
    lines.append(summary(report))
    return lines


def summary(report: CheckReport) -> str:
    counts = ", ".join(f"{report.count(status)} {status}" for status in STATUSES if report.count(status))
    total = len(report.notebooks)
    network = "with network" if report.network else "no network"
    noun = "notebook" if total == 1 else "notebooks"
    return f"{total} {noun} in {report.duration:.1f} s: {counts or 'none run'} ({report.image}, {network})"


def _result_json(result: NotebookResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "path": result.path,
        "status": result.status,
        "duration": round(result.duration, 3),
        "kernel": result.kernel,
        "note": result.note,
        "cell": result.cell,
        "execution_count": result.execution_count,
        "error": None,
        "differences": None,
    }
    if result.error is not None:
        data["error"] = {
            "type": result.error.type,
            "message": result.error.message,
            "traceback": list(result.error.relevant),
            "full_traceback": list(result.error.traceback),
        }
    if result.comparison is not None:
        data["cells_compared"] = result.comparison.cells_compared
        data["differences"] = [
            {
                "cell": diff.cell,
                "execution_count": diff.execution_count,
                "what": diff.what,
                "committed": diff.committed,
                "fresh": diff.fresh,
            }
            for diff in result.comparison.differences
        ]
    return data


def to_json(report: CheckReport) -> str:
    document = {
        "format": JSON_FORMAT,
        "image": report.image,
        "image_id": report.image_id,
        "sbom_digest": report.sbom_digest,
        "network": report.network,
        "timeout": report.timeout,
        "started": report.started,
        "duration": round(report.duration, 3),
        "ok": report.ok,
        "counts": {status: report.count(status) for status in STATUSES},
        "output": str(report.output_dir) if report.output_dir else None,
        "notebooks": [_result_json(result) for result in report.notebooks],
    }
    return json.dumps(document, indent=2)


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("", text)


def _add_failure(case: ET.Element, result: NotebookResult) -> None:
    kind = {"timed out": "CellTimeoutError", "differs": "OutputsDiffer"}.get(result.status)
    if kind is None:
        kind = result.error.type if result.error else "Failed"
    failure = ET.SubElement(case, "failure", {"type": _xml_text(kind), "message": _xml_text(headline(result))})
    body = list(result.error.traceback) if result.error else []
    body += _difference_lines(result)
    failure.text = _xml_text("\n".join(body))


def to_junit(report: CheckReport, *, suite: str) -> str:
    """JUnit XML as Jenkins, GitLab and GitHub report tools read it: one testcase per notebook."""
    failures = sum(1 for result in report.notebooks if not result.ok)
    attrs = {"tests": str(len(report.notebooks)), "failures": str(failures), "errors": "0", "skipped": "0"}
    root = ET.Element("testsuites", {"name": "nbship check", **attrs, "time": f"{report.duration:.3f}"})
    testsuite = ET.SubElement(
        root,
        "testsuite",
        {"name": _xml_text(suite), **attrs, "time": f"{report.duration:.3f}", "timestamp": report.started},
    )
    properties = ET.SubElement(testsuite, "properties")
    for name, value in (
        ("image", report.image),
        ("image_id", report.image_id),
        ("sbom_digest", report.sbom_digest or ""),
        ("network", "allowed" if report.network else "none"),
        ("timeout", str(report.timeout)),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    for result in report.notebooks:
        case = ET.SubElement(
            testsuite,
            "testcase",
            {"classname": _xml_text(suite), "name": _xml_text(result.path), "file": _xml_text(result.path)},
        )
        case.set("time", f"{result.duration:.3f}")
        if not result.ok:
            _add_failure(case, result)
        if result.note:  # after <failure>, where the JUnit schema puts system-out
            ET.SubElement(case, "system-out").text = _xml_text(f"note: {result.note}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
