"""Finding, loading and registering engine plugins.

:func:`build_manager` makes a fresh :class:`EngineManager` each time it is called; there
is no module-global manager.  Built-in engines and third-party ones come through the
same entry-point group, ``mcuseal.engines``; a third-party plugin that fails to import,
to validate or to register is skipped with a warning naming the entry point and its
distribution, and the others carry on.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pluggy

from mcuseal.errors import EngineError, EngineNotFound
from mcuseal.plugins import spec
from mcuseal.plugins.types import EncryptionEngine, EngineInfo

GROUP = "mcuseal.engines"
DISABLE_ENV = "MCUSEAL_DISABLE_PLUGINS"
_BUILTIN_DIST = "mcuseal"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkippedPlugin:
    """A plugin that was not used, and why."""

    entry_point: str
    distribution: str
    reason: str


class EngineRegistry:
    """The object passed to :func:`~mcuseal.plugins.spec.mcuseal_register_engines`."""

    def __init__(self) -> None:
        self._engines: dict[str, EngineInfo] = {}
        self._source: tuple[str, str, str, bool] = ("?", "?", "?", False)

    def add(self, engine: type[EncryptionEngine]) -> None:
        """Register *engine* (a class) under ``engine.name``.

        :raises EngineError: not an :class:`EncryptionEngine` subclass, breaks the
            contract, or its name is taken.
        """
        plugin, dist, version, builtin = self._source
        if not (isinstance(engine, type) and issubclass(engine, EncryptionEngine)):
            raise EngineError(
                f"plugin {plugin!r} registered {engine!r}, which is not an EncryptionEngine class"
            )
        try:
            engine.check_class()
        except ValueError as err:
            raise EngineError(f"plugin {plugin!r}: {err}") from None
        taken = self._engines.get(engine.name)
        if taken is not None:
            raise EngineError(
                f"plugin {plugin!r} registers engine {engine.name!r}, already registered by "
                f"plugin {taken.plugin!r} ({taken.distribution})"
            )
        self._engines[engine.name] = EngineInfo(engine.name, engine, plugin, dist, version, builtin)

    def _drop_plugin(self, plugin: str) -> None:
        for name in [n for n, info in self._engines.items() if info.plugin == plugin]:
            del self._engines[name]


class EngineManager:
    """Typed access to the loaded engines (wraps the pluggy manager)."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        engines: Mapping[str, EngineInfo],
        skipped: tuple[SkippedPlugin, ...],
    ) -> None:
        self.pm = pm
        self._engines = dict(sorted(engines.items()))
        self.skipped = skipped

    @property
    def engines(self) -> Mapping[str, EngineInfo]:
        """Registered engines by name, sorted."""
        return self._engines

    def names(self) -> tuple[str, ...]:
        return tuple(self._engines)

    def get(self, name: str) -> type[EncryptionEngine]:
        """Return the engine class called *name*.

        :raises EngineNotFound: naming the engines that are registered, and why a
            skipped plugin of that name was skipped.
        """
        info = self._engines.get(name)
        if info is not None:
            return info.engine
        why = next((s for s in self.skipped if s.entry_point == name), None)
        known = ", ".join(self._engines) or "none"
        hint = f" (plugin {name!r} was skipped: {why.reason})" if why else ""
        raise EngineNotFound(f"no engine {name!r}{hint}; registered engines: {known}")


def disabled_plugins(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Names listed in ``MCUSEAL_DISABLE_PLUGINS`` (comma-separated)."""
    raw = (os.environ if environ is None else environ).get(DISABLE_ENV, "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _entry_points(group: str = GROUP) -> Iterator[tuple[importlib.metadata.EntryPoint, str, str]]:
    # Walk distributions rather than importlib.metadata.entry_points() so the owning
    # distribution is known for warnings (and tests can fake it, as pluggy's do).
    seen: set[tuple[str, str]] = set()
    for dist in list(importlib.metadata.distributions()):
        dist_name = dist.metadata["name"] or "?"
        for ep in dist.entry_points:
            if ep.group != group or (dist_name, ep.name) in seen:
                continue
            seen.add((dist_name, ep.name))
            yield ep, dist_name, dist.version or "?"


#: plugin name -> (entry point name, distribution, version, built-in?)
Sources = dict[str, tuple[str, str, str, bool]]


def load_plugins(
    pm: pluggy.PluginManager,
    group: str,
    skipped: list[SkippedPlugin],
    *,
    load_external: bool = True,
) -> Sources:
    """Register the plugins of entry-point *group* with *pm*, mcuseal's own first.

    Honours ``MCUSEAL_DISABLE_PLUGINS``; a third-party plugin that fails to import or to
    validate is appended to *skipped* (with a warning) and the others carry on.  Shared by
    the engine manager and the key-provider registry (:mod:`mcuseal.keys.providers`).

    :returns: where each registered plugin came from
    :raises pluggy.PluginValidationError: a built-in plugin is broken (a bug in mcuseal)
    """
    blocked = disabled_plugins()
    for name in blocked:
        pm.set_blocked(name)
    sources: Sources = {}

    def skip(name: str, dist: str, reason: str) -> None:
        skip_plugin(skipped, name, dist, reason)

    # Built-ins register first so a third-party plugin cannot take their names.
    found = sorted(_entry_points(group), key=lambda item: item[1] != _BUILTIN_DIST)
    for ep, dist, version in found:
        builtin = dist == _BUILTIN_DIST
        if pm.is_blocked(ep.name):
            skipped.append(SkippedPlugin(ep.name, dist, f"disabled by {DISABLE_ENV}"))
            continue
        if not builtin and not load_external:
            continue
        if pm.has_plugin(ep.name):
            skip(ep.name, dist, f"entry point name already used by {sources[ep.name][1]}")
            continue
        try:
            plugin = ep.load()
        except Exception as err:
            if builtin:
                raise
            skip(ep.name, dist, f"import of {ep.value!r} failed: {type(err).__name__}: {err}")
            continue
        try:
            pm.register(plugin, name=ep.name)
        except (pluggy.PluginValidationError, ValueError) as err:
            if builtin:
                raise
            skip(ep.name, dist, f"invalid hook implementation: {_one_line(err)}")
            continue
        sources[ep.name] = (ep.name, dist, version, builtin)

    while True:
        try:
            pm.check_pending()
            break
        except pluggy.PluginValidationError as err:
            name = pm.get_name(err.plugin) or "?"
            if sources.get(name, ("", "", "", True))[3]:
                raise
            pm.unregister(err.plugin)
            skip(name, sources.pop(name)[1], f"unknown hook: {_one_line(err)}")
    return sources


def build_manager(*, load_external: bool = True) -> EngineManager:
    """Load the engine plugins and return a fresh manager.

    :param load_external: also load third-party plugins (not only mcuseal's own).
    :raises EngineError: a built-in plugin is broken (a bug in mcuseal).
    """
    pm = pluggy.PluginManager(spec.NAME)
    pm.add_hookspecs(spec)
    skipped: list[SkippedPlugin] = []
    sources = load_plugins(pm, GROUP, skipped, load_external=load_external)
    registry = EngineRegistry()
    # pluggy would call implementations last-registered first; call them one by one in
    # registration order instead, so one plugin's failure is contained and built-ins
    # claim their names before anyone else.
    for impl in pm.hook.mcuseal_register_engines.get_hookimpls():
        source = sources.get(impl.plugin_name, (impl.plugin_name, "?", "?", False))
        registry._source = source
        try:
            impl.function(registry=registry)
        except Exception as err:
            if source[3]:
                raise
            registry._drop_plugin(impl.plugin_name)
            pm.unregister(name=impl.plugin_name)
            reason = f"{type(err).__name__}: {_one_line(err)}"
            skip_plugin(skipped, impl.plugin_name, source[1], reason)
    return EngineManager(pm, registry._engines, tuple(skipped))


def skip_plugin(skipped: list[SkippedPlugin], name: str, dist: str, reason: str) -> None:
    """Record (and warn about) a plugin that is not used."""
    _log.warning("plugin %r from %s skipped: %s", name, dist, reason)
    skipped.append(SkippedPlugin(name, dist, reason))


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())
