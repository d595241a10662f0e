"""Hook specifications: what a plugin may implement.

A plugin is a module or object with functions marked ``@hookimpl`` whose names match
the specifications below.  mcuseal finds plugins through the entry-point group
``mcuseal.engines`` (its own engines are listed there too)::

    [project.entry-points."mcuseal.engines"]
    otfad = "mcuseal_otfad.plugin"

Hooks are called by :func:`mcuseal.plugins.manager.build_manager`, once per manager,
never at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from mcuseal.keys.providers import KeyProviderRegistry
    from mcuseal.plugins.manager import EngineRegistry

NAME = "mcuseal"

#: Marks a hook specification (mcuseal's own use).
hookspec = pluggy.HookspecMarker(NAME)
#: Decorator plugins put on their hook implementations.
hookimpl = pluggy.HookimplMarker(NAME)


@hookspec
def mcuseal_register_engines(registry: EngineRegistry) -> None:
    """Add encryption-engine classes to *registry*.

    Called once per :func:`~mcuseal.plugins.manager.build_manager` call, for every
    plugin that was loaded and not blocked, built-ins first.  Keep it cheap: import
    heavy modules inside the engine's methods, not here.

    :param registry: call ``registry.add(EngineClass)`` for each engine.  The class is
        checked against the contract (:meth:`EncryptionEngine.check_class`); a name
        already taken raises :class:`mcuseal.errors.EngineError`.
    :return: nothing; results of all implementations are ignored.  If a third-party
        implementation raises, its engines are dropped and a warning names it.
    """


@hookspec
def mcuseal_register_key_providers(registry: KeyProviderRegistry) -> None:
    """Add key-provider classes (a KMS, a signing service, another HSM API) to *registry*.

    Called once per :func:`~mcuseal.keys.providers.build_registry` call (the CLI builds
    one per process, on the first key reference that is not a file), for every plugin of
    the ``mcuseal.key_providers`` entry-point group that was loaded and not blocked by
    ``MCUSEAL_DISABLE_PLUGINS``.  mcuseal's own ``file`` and ``pkcs11`` providers are
    registered before any plugin.

    :param registry: call ``registry.add(ProviderClass)`` for each
        :class:`~mcuseal.keys.providers.KeyProvider` subclass; its ``schemes`` (URI schemes
        such as ``"awskms"``) decide which key references it serves.  A name or scheme
        already taken raises :class:`mcuseal.errors.KeyError_`.
    :return: nothing; results are ignored.  If an implementation raises, its providers are
        dropped and a warning names the plugin.
    """
