"""Progress events: the DFU core reports, the CLI renders (rich bars or a JSON stream)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One thing that happened during a DFU.

    :param kind: ``upload-start``, ``progress``, ``resync``, ``retry``, ``resume``,
        ``upload-done``, ``skip``, ``state``, ``mark``, ``reset``, ``reconnect``, ``done``.
    :param data: JSON-serialisable details (``image``, ``offset``, ``size`` ...).
    """

    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, **self.data}


EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """An :data:`EventSink` that drops everything."""
