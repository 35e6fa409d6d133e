"""Progress goes through this one small interface: the CLI shows it live, tests record it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class Reporter(Protocol):
    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...

    def step(self, name: str) -> None:
        """A build step (or a phase of start-up) began."""

    def log(self, line: str) -> None:
        """A raw output line: a build log line, a server log line."""


@dataclass
class RecordingReporter:
    """Keeps every event; used by tests and by callers of the Python API who want no output."""

    events: list[tuple[str, str]] = field(default_factory=list)

    def info(self, message: str) -> None:
        self.events.append(("info", message))

    def warn(self, message: str) -> None:
        self.events.append(("warn", message))

    def step(self, name: str) -> None:
        self.events.append(("step", name))

    def log(self, line: str) -> None:
        self.events.append(("log", line))

    def of(self, kind: str) -> list[str]:
        return [text for event, text in self.events if event == kind]
