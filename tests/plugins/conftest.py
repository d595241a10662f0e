"""Fixtures for plugin tests: fake distributions carrying entry points."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class FakeEntryPoint:
    name: str
    target: Callable[[], Any]
    group: str = "mcuseal.engines"
    value: str = "fake.module:plugin"

    def load(self) -> Any:
        return self.target()


@dataclass
class FakeDist:
    name: str
    entry_points: list[FakeEntryPoint] = field(default_factory=list)
    version: str = "1.0"

    @property
    def metadata(self) -> dict[str, str]:
        return {"name": self.name}


@pytest.fixture
def fake_dists(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FakeDist]]:
    """Extra distributions seen by the plugin loader, beside the real installed ones."""
    extra: list[FakeDist] = []
    real = importlib.metadata.distributions

    def distributions(**kwargs: Any) -> list[Any]:
        return [*real(**kwargs), *extra]

    monkeypatch.setattr(importlib.metadata, "distributions", distributions)
    yield extra
