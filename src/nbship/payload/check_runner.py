"""nbship check's runner. nbship copies this file into a fresh container of the image and runs it
there with the image's own Python, so it imports nothing of nbship and keeps to Python 3.8.

It executes each notebook headless with nbclient, from the notebook's own folder and with the
notebook's own kernel, writes the executed notebooks and a results file into an output folder,
and prints one event line per step (for nbship's progress display).

Usage: python3 runner.py CONFIG.json   (the config is written by nbship.check.execute)
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

EVENT_PREFIX = "::nbship-check::"
EXIT_FATAL = 3  # the run could not start: the event line says why


def emit(**event: Any) -> None:
    sys.stdout.write(EVENT_PREFIX + json.dumps(event) + "\n")
    sys.stdout.flush()


def discover(root: Path, skip_dirs: list[str]) -> list[str]:
    """Notebooks below `root`, with the rules nbship's project detection uses on the host."""
    found: list[tuple[str, ...]] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                if entry.name not in skip_dirs:
                    stack.append(entry)
            elif entry.suffix == ".ipynb":
                found.append(entry.relative_to(root).parts)
    # Sorted by path components, as pathlib sorts on the host ("a/b" before "a-b").
    return ["/".join(parts) for parts in sorted(found)]


class KernelChoiceError(Exception):
    pass


def choose_kernel(metadata: dict[str, Any], specs: dict[str, Any]) -> tuple[str, str | None]:
    """The notebook's own kernel; another of the same language only when the image has exactly one."""
    kernelspec = metadata.get("kernelspec") or {}
    wanted = kernelspec.get("name") or ""
    if not wanted:
        if "python3" in specs:
            return "python3", None
        if len(specs) == 1:
            return next(iter(specs)), None
        raise KernelChoiceError("the notebook names no kernel and the image has several: " + ", ".join(sorted(specs)))
    if wanted in specs:
        return wanted, None
    language = (kernelspec.get("language") or (metadata.get("language_info") or {}).get("name") or "").lower()
    same = sorted(
        name for name, spec in specs.items() if (spec.get("spec") or {}).get("language", "").lower() == language
    )
    if language and len(same) == 1:
        return same[0], f"kernel '{wanted}' is not in the image; ran with '{same[0]}' ({language})"
    kernels = ", ".join(sorted(specs)) or "none"
    raise KernelChoiceError(f"the notebook's kernel '{wanted}' is not installed in the image (its kernels: {kernels})")


def error_output(cell: Any) -> dict[str, Any] | None:
    for output in reversed(cell.get("outputs", [])):
        if output.get("output_type") == "error":
            return dict(output)
    return None


def code_cells_before(nb: Any, index: int) -> int:
    return sum(1 for cell in nb.cells[:index] if cell.cell_type == "code")


def run_notebook(root: Path, rel: str, config: dict[str, Any], out: Path, libs: dict[str, Any]) -> dict[str, Any]:
    nbformat = libs["nbformat"]
    exceptions = libs["exceptions"]
    path = root / rel
    result: dict[str, Any] = {
        "path": rel,
        "status": "failed",
        "duration": 0.0,
        "kernel": None,
        "note": None,
        "cell": None,
        "execution_count": None,
        "error": None,
    }
    started = time.monotonic()
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # any unreadable notebook is this notebook's failure, not the run's
        message = f"the notebook cannot be read: {exc}"
        result["error"] = {"type": type(exc).__name__, "message": message, "traceback": []}
        return result
    try:
        kernel, note = choose_kernel(dict(nb.metadata), libs["specs"])
    except KernelChoiceError as exc:
        result["error"] = {"type": "NoSuchKernel", "message": str(exc), "traceback": []}
        result["duration"] = time.monotonic() - started
        return result
    result["kernel"] = kernel
    result["note"] = note
    client = libs["NotebookClient"](
        nb,
        timeout=config["timeout"],
        kernel_name=kernel,
        startup_timeout=config["startup_timeout"],
        # The kernel runs in the notebook's folder, as Jupyter starts it.
        resources={"metadata": {"path": str(path.parent)}},
        shutdown_kernel="immediate",
        record_timing=False,
    )
    index = -1
    try:
        client.reset_execution_trackers()
        with client.setup_kernel():
            reply = client.wait_for_reply(client.kc.kernel_info())
            if reply is not None and "language_info" in reply["content"]:
                nb.metadata["language_info"] = reply["content"]["language_info"]
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            client.set_widgets_metadata()
        result["status"] = "passed"
    except exceptions.CellTimeoutError:
        result["status"] = "timed out"
        result["error"] = {
            "type": "CellTimeoutError",
            "message": f"the cell ran longer than {config['timeout']} s (--timeout)",
            "traceback": [],
        }
    except exceptions.CellExecutionError as exc:
        cell = nb.cells[index]
        output = error_output(cell) or {}
        result["error"] = {
            "type": output.get("ename") or exc.ename,
            "message": output.get("evalue") if "evalue" in output else exc.evalue,
            "traceback": output.get("traceback") or str(exc.traceback).splitlines(),
        }
    except exceptions.DeadKernelError as exc:
        result["error"] = {
            "type": "DeadKernelError",
            "message": f"the kernel died ({str(exc).strip() or 'no message'}); it may have run out of memory",
            "traceback": [],
        }
    except Exception as exc:  # kernel start-up and protocol failures: this notebook's failure
        result["error"] = {"type": type(exc).__name__, "message": str(exc).strip()[:2000], "traceback": []}
    if result["status"] != "passed" and index >= 0:
        result["cell"] = index + 1
        result["execution_count"] = code_cells_before(nb, index) + 1 if nb.cells[index].cell_type == "code" else None
    result["duration"] = time.monotonic() - started
    target = out / "executed" / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))
    if config["keep_originals"]:
        original = out / "original" / rel
        original.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(str(path), str(original))
    return result


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    root = Path.cwd()
    out = Path(config["output"])
    try:
        import nbformat
        from jupyter_client.kernelspec import KernelSpecManager
        from nbclient import NotebookClient, exceptions
    except ImportError as exc:
        emit(event="fatal", kind="no-nbclient", message=str(exc), python=sys.executable)
        return EXIT_FATAL
    specs = KernelSpecManager().get_all_specs()
    found = discover(root, config["skip_dirs"])
    chosen = config["notebooks"]
    if chosen is not None:
        missing = [name for name in chosen if not (root / name).is_file()]
        if missing:
            emit(event="fatal", kind="missing-notebooks", missing=missing, available=found, root=str(root))
            return EXIT_FATAL
        order = list(chosen)
    else:
        order = found
    emit(event="plan", notebooks=order, root=str(root))
    out.mkdir(parents=True, exist_ok=True)
    libs = {"nbformat": nbformat, "exceptions": exceptions, "NotebookClient": NotebookClient, "specs": specs}
    results = []
    for position, rel in enumerate(order):
        emit(event="start", index=position, total=len(order), path=rel)
        result = run_notebook(root, rel, config, out, libs)
        results.append(result)
        emit(event="done", index=position, total=len(order), path=rel, status=result["status"])
    with open(str(out / "results.json"), "w", encoding="utf-8") as handle:
        json.dump({"root": str(root), "python": sys.version.split()[0], "notebooks": results}, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
