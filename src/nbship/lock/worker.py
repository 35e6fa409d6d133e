"""py-rattler's work (solves, channel queries, writing nbship.lock) in a process of its own.

rattler's async runtime has been seen to crash the interpreter while it finalizes ("Fatal Python
error: PyGILState_Release", exit 134), after the command had done its work and printed its
message. In a worker process that writes its result to a file and leaves with `os._exit`, such a
crash cannot reach the user: the parent reads the result, whatever the worker's exit status.

    python -m nbship.lock.worker TASK RESULT_FILE < arguments.json
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbship.errors import LockError, NbshipError, NetworkError, ProjectError, UsageError

# The tasks a worker runs: name -> "module:function", each taking and returning JSON values.
TASKS = {"write-conda-lock": "nbship.lock.conda:write_lock_in_worker"}
_ERRORS: dict[str, type[NbshipError]] = {
    cls.__name__: cls for cls in (LockError, NetworkError, ProjectError, UsageError, NbshipError)
}


def call(task: str, arguments: dict[str, Any], *, timeout: float = 1800) -> Any:
    """Runs `task` in a worker process; its NbshipError is raised here, as it was raised there."""
    with tempfile.TemporaryDirectory(prefix="nbship-worker-") as tmp:
        result_file = Path(tmp) / "result.json"
        try:
            process = subprocess.run(
                [sys.executable, "-m", "nbship.lock.worker", task, str(result_file)],
                input=json.dumps(arguments),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LockError(f"Locking took longer than {timeout:.0f} s and was stopped. Run it again.") from exc
        if not result_file.is_file():
            raise LockError(
                f"nbship's conda solver stopped before it finished (exit {process.returncode}). Run the command "
                "again; if it keeps failing, run it with --debug and report the lines below.",
                details=process.stderr[-4000:] or None,
            )
        outcome = json.loads(result_file.read_text(encoding="utf-8"))
    if "error" in outcome:
        error = outcome["error"]
        if error["type"] == "bug":
            raise RuntimeError(error["message"])
        raise _ERRORS.get(error["type"], NbshipError)(error["message"])
    return outcome["value"]


def _resolve(task: str) -> Callable[[dict[str, Any]], Any]:
    module, _, function = TASKS[task].partition(":")
    target = getattr(importlib.import_module(module), function)
    assert callable(target)
    return target  # type: ignore[no-any-return]


def main(argv: list[str]) -> None:
    task, result_file = argv[0], Path(argv[1])
    try:
        outcome: dict[str, Any] = {"value": _resolve(task)(json.loads(sys.stdin.read()))}
    except NbshipError as exc:
        outcome = {"error": {"type": type(exc).__name__, "message": exc.message}}
    except Exception:
        outcome = {"error": {"type": "bug", "message": traceback.format_exc()}}
    partial = result_file.with_suffix(".partial")
    partial.write_text(json.dumps(outcome), encoding="utf-8")
    partial.replace(result_file)  # the parent sees the whole result or none
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # without finalizing the interpreter: where rattler's runtime has been seen to crash


if __name__ == "__main__":
    main(sys.argv[1:])
