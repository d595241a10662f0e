"""Key providers: how a key reference (``-k``, ``-E``, ``getpub -k`` ...) becomes a key.

A key reference is a file path, or a URI whose scheme names a provider
(``pkcs11:token=...``).  mcuseal's own providers are ``file`` (PEM/DER keys and KEK files)
and ``pkcs11`` (keys inside an HSM or smart card); a plugin adds more (a cloud KMS, a
signing service) by implementing the ``mcuseal_register_key_providers`` hook and listing
itself in the ``mcuseal.key_providers`` entry-point group.

A provider hands out what the image code needs and nothing more: a
:class:`~mcuseal.image.crypto.Signer` (the private key may never be seen) and public keys.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import dataclasses
import functools
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mcuseal.errors import KeyError_

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from mcuseal.image.crypto import Signer
    from mcuseal.plugins.manager import SkippedPlugin

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]+")
#: Entry-point group of key-provider plugins.
GROUP = "mcuseal.key_providers"


@dataclasses.dataclass(frozen=True)
class KeyOptions:
    """Settings a key reference alone does not carry (from the command line).

    :param pkcs11_module: ``--pkcs11-module``: the PKCS#11 module to load
    :param allow_pin_in_uri: ``--allow-pin-in-uri``: accept a ``pin-value`` in a URI
    :param prompt: ask for passwords and PINs on the terminal when needed
    """

    pkcs11_module: str | None = None
    allow_pin_in_uri: bool = False
    prompt: bool = False


_CURRENT: contextvars.ContextVar[KeyOptions | None] = contextvars.ContextVar(
    "mcuseal_key_options", default=None
)


@contextlib.contextmanager
def using_options(options: KeyOptions) -> Iterator[None]:
    """Make *options* the defaults of the file-level loaders within the block.

    Commands whose keys are loaded deep inside other code (``seal`` loads them in
    :mod:`mcuseal.build`) set their ``--pkcs11-module`` etc. here instead of passing them
    through every layer.
    """
    token = _CURRENT.set(options)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_options(*, prompt: bool = False) -> KeyOptions:
    """The options set by :func:`using_options` (defaults outside), prompting if asked."""
    options = _CURRENT.get() or KeyOptions()
    return dataclasses.replace(options, prompt=True) if prompt else options


class KeyProvider(abc.ABC):
    """Resolves the key references of one kind.

    Subclasses set :attr:`name` and :attr:`schemes` and implement :meth:`open_signer` and
    :meth:`load_public_key`.  New methods will get a default body, so providers written
    against this version keep working.
    """

    #: Short lowercase name, shown in messages and ``MCUSEAL_DISABLE_PLUGINS``.
    name: ClassVar[str]
    #: URI schemes this provider claims, lowercase, without the colon: ``("pkcs11",)``.
    schemes: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def open_signer(self, ref: str, options: KeyOptions) -> Signer:
        """Return a signer for the private key *ref* names.

        If the signer holds a resource (a session, a connection) it has a ``close()``
        method; callers close it when the image is written.

        :raises KeyError_: unusable reference or key (one line, naming the fix)
        """

    @abc.abstractmethod
    def load_public_key(self, ref: str, options: KeyOptions) -> PublicKeyTypes:
        """Return the public key *ref* names (``getpub``, ``verify -k``, ``-E``).

        :raises KeyError_: unusable reference or key
        """

    def load_encryption_key(self, ref: str, options: KeyOptions) -> PublicKeyTypes | bytes:
        """The key ``sign -E`` encrypts to: a public key, or KEK bytes for AES-KW."""
        return self.load_public_key(ref, options)

    def describe(self, ref: str) -> str:
        """*ref* as it may appear in messages and logs (secrets removed)."""
        return ref

    @classmethod
    def check_class(cls) -> None:
        """Raise ValueError if the class breaks the contract (checked on registration)."""
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
            raise ValueError(f"{cls.__name__}.name must be a short lowercase string")
        schemes = getattr(cls, "schemes", None)
        if not isinstance(schemes, tuple) or not all(
            isinstance(s, str) and _SCHEME.fullmatch(s) for s in schemes
        ):
            raise ValueError(
                f"{cls.__name__}.schemes must be a tuple of lowercase URI schemes (no ':')"
            )


class FileKeyProvider(KeyProvider):
    """PEM/DER key files and AES-KW KEK files (the fallback for anything that is not a URI)."""

    name = "file"
    schemes = ()

    def open_signer(self, ref: str, options: KeyOptions) -> Signer:
        from mcuseal.keys._files import load_private_key
        from mcuseal.keys._image import signer_for

        return signer_for(load_private_key(ref, prompt=options.prompt), path=ref)

    def load_public_key(self, ref: str, options: KeyOptions) -> PublicKeyTypes:
        from mcuseal.keys._files import load_public_key

        return load_public_key(ref, prompt=options.prompt)

    def load_encryption_key(self, ref: str, options: KeyOptions) -> PublicKeyTypes | bytes:
        from mcuseal.keys._files import load_key_or_kek, public_of

        key = load_key_or_kek(ref, prompt=options.prompt)
        return key if isinstance(key, bytes) else public_of(key)


class Pkcs11KeyProvider(KeyProvider):
    """Keys inside a PKCS#11 token, addressed by RFC 7512 ``pkcs11:`` URIs."""

    name = "pkcs11"
    schemes = ("pkcs11",)

    def open_signer(self, ref: str, options: KeyOptions) -> Signer:
        from mcuseal.keys import pkcs11

        return pkcs11.open_signer(ref, **self._settings(options))

    def load_public_key(self, ref: str, options: KeyOptions) -> PublicKeyTypes:
        from mcuseal.keys import pkcs11

        return pkcs11.load_public_key(ref, **self._settings(options))

    @staticmethod
    def _settings(options: KeyOptions) -> dict[str, Any]:
        return {
            "module": options.pkcs11_module,
            "allow_pin_in_uri": options.allow_pin_in_uri,
            "prompt": options.prompt,
        }

    def describe(self, ref: str) -> str:
        from mcuseal.keys.pkcs11 import Pkcs11Uri

        try:
            return Pkcs11Uri.loads(ref).describe()
        except KeyError_:
            return "pkcs11:<malformed URI>"


BUILTIN_PROVIDERS: tuple[type[KeyProvider], ...] = (FileKeyProvider, Pkcs11KeyProvider)


@dataclasses.dataclass(frozen=True)
class ProviderInfo:
    """A registered provider and the plugin it came from."""

    name: str
    provider: type[KeyProvider]
    plugin: str
    distribution: str


class KeyProviderRegistry:
    """The object passed to ``mcuseal_register_key_providers``; resolves key references."""

    def __init__(self) -> None:
        self._providers: dict[str, ProviderInfo] = {}
        self._schemes: dict[str, str] = {}
        self._instances: dict[str, KeyProvider] = {}
        self._source: tuple[str, str] = ("mcuseal", "mcuseal")
        #: Plugins that were not used, and why (see :func:`build_registry`).
        self.skipped: tuple[SkippedPlugin, ...] = ()

    def add(self, provider: type[KeyProvider]) -> None:
        """Register *provider* (a class).

        :raises KeyError_: not a :class:`KeyProvider` class, breaks the contract, or its
            name or one of its schemes is taken.
        """
        plugin, dist = self._source
        if not (isinstance(provider, type) and issubclass(provider, KeyProvider)):
            raise KeyError_(
                f"plugin {plugin!r} registered {provider!r}, which is not a KeyProvider class"
            )
        try:
            provider.check_class()
        except ValueError as err:
            raise KeyError_(f"plugin {plugin!r}: {err}") from None
        taken = self._providers.get(provider.name)
        if taken is not None:
            raise KeyError_(
                f"plugin {plugin!r} registers key provider {provider.name!r}, already "
                f"registered by plugin {taken.plugin!r} ({taken.distribution})"
            )
        for scheme in provider.schemes:
            if scheme in self._schemes:
                raise KeyError_(
                    f"plugin {plugin!r}: URI scheme {scheme!r} is already served by key "
                    f"provider {self._schemes[scheme]!r}"
                )
        self._providers[provider.name] = ProviderInfo(provider.name, provider, plugin, dist)
        self._schemes.update(dict.fromkeys(provider.schemes, provider.name))

    def drop_plugin(self, plugin: str) -> None:
        """Forget every provider *plugin* registered (its hook failed half-way)."""
        for name in [n for n, info in self._providers.items() if info.plugin == plugin]:
            del self._providers[name]
            self._schemes = {s: n for s, n in self._schemes.items() if n != name}

    @property
    def providers(self) -> Mapping[str, ProviderInfo]:
        return dict(sorted(self._providers.items()))

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._providers))

    def get(self, name: str) -> KeyProvider:
        """The provider instance called *name* (one per registry)."""
        if name not in self._instances:
            info = self._providers.get(name)
            if info is None:
                raise KeyError_(
                    f"no key provider {name!r}; registered: {', '.join(self) or 'none'}"
                )
            self._instances[name] = info.provider()
        return self._instances[name]

    def for_ref(self, ref: str) -> KeyProvider:
        """The provider for key reference *ref*: by URI scheme, else the file provider.

        :raises KeyError_: *ref* looks like a URI of a scheme nobody serves (and no file of
            that name exists)
        """
        scheme, colon, _ = ref.partition(":")
        scheme = scheme.lower()
        if colon and scheme in self._schemes:
            return self.get(self._schemes[scheme])
        if colon and _SCHEME.fullmatch(scheme) and not Path(ref).exists():
            served = ", ".join(f"{s}:" for s in sorted(self._schemes)) or "none"
            raise KeyError_(
                f"no key provider serves '{scheme}:' key references (served: {served}); "
                "install the provider's plugin, or check MCUSEAL_DISABLE_PLUGINS"
            )
        return self.get(FileKeyProvider.name)


def builtin_registry() -> KeyProviderRegistry:
    """A registry with mcuseal's own providers only (no plugins loaded)."""
    registry = KeyProviderRegistry()
    for provider in BUILTIN_PROVIDERS:
        registry.add(provider)
    return registry


def build_registry(*, load_external: bool = True) -> KeyProviderRegistry:
    """mcuseal's providers plus those of the ``mcuseal.key_providers`` plugins.

    The built-ins are registered directly (not through entry points), so they are there
    even when the installed metadata is stale, and cannot be disabled.  A plugin that
    fails to load, to validate or to register is skipped with a warning naming it.

    :param load_external: also load third-party plugins
    """
    import pluggy

    from mcuseal.plugins import spec
    from mcuseal.plugins.manager import load_plugins, skip_plugin

    registry = builtin_registry()
    if not load_external:
        return registry
    pm = pluggy.PluginManager(spec.NAME)
    pm.add_hookspecs(spec)
    skipped: list[SkippedPlugin] = []
    sources = load_plugins(pm, GROUP, skipped)
    for impl in pm.hook.mcuseal_register_key_providers.get_hookimpls():
        dist = sources.get(impl.plugin_name, (impl.plugin_name, "?", "?", False))[1]
        registry._source = (impl.plugin_name, dist)
        try:
            impl.function(registry=registry)
        except Exception as err:
            registry.drop_plugin(impl.plugin_name)
            skip_plugin(skipped, impl.plugin_name, dist, f"{type(err).__name__}: {err}")
    registry._source = ("mcuseal", "mcuseal")
    registry.skipped = tuple(skipped)
    return registry


@functools.cache
def default_registry() -> KeyProviderRegistry:
    """The registry of this process, built on first use (plugins load once)."""
    return build_registry()


def uri_provider(ref: object) -> KeyProvider | None:
    """The provider of *ref* if it is a URI of a registered scheme (``pkcs11:``), else None.

    The file-level loaders of :mod:`mcuseal.keys` call this first, so every caller that
    takes a key path (``mcuseal seal``, ``west seal``, plugins) also takes a key URI.
    """
    if not isinstance(ref, (str, os.PathLike)):
        return None
    text = os.fspath(ref)
    if not isinstance(text, str) or ":" not in text:
        return None
    registry = default_registry()
    provider = registry.for_ref(text) if _SCHEME.fullmatch(text.partition(":")[0].lower()) else None
    return None if provider is None or isinstance(provider, FileKeyProvider) else provider


__all__ = [
    "BUILTIN_PROVIDERS",
    "GROUP",
    "FileKeyProvider",
    "KeyOptions",
    "KeyProvider",
    "KeyProviderRegistry",
    "Pkcs11KeyProvider",
    "ProviderInfo",
    "build_registry",
    "builtin_registry",
    "current_options",
    "default_registry",
    "uri_provider",
    "using_options",
]
