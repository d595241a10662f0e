"""Keys that live in a PKCS#11 token (HSM, smart card, SoftHSM), addressed by RFC 7512 URIs.

The private key never leaves the token: :class:`Pkcs11Signer` hands the token the digest (or,
for Ed25519, the bytes) MCUboot signs and gets the signature back.  Only public keys are
read out, for the KEYHASH/PUBKEY TLV and for encryption (``-E``).

Where things come from, most specific first:

* the module (the vendor's ``.so``): ``--pkcs11-module``, the URI's ``module-path`` or
  ``module-name``, then :data:`MODULE_ENV`;
* the user PIN: the URI's ``pin-source`` file, :data:`PIN_ENV`, an interactive prompt.  A
  ``pin-value`` inside the URI is refused unless the caller allows it explicitly, and then
  warned about: URIs end up in shell history, build logs, CMake caches and ``ps`` output.

Every failure is a one-line :class:`~mcuseal.errors.KeyError_` (exit 2: wrong PIN, missing
module, token or object, a key MCUboot cannot use) or :class:`~mcuseal.errors.TokenIOError`
(exit 3: the token failed or went away).  The PIN never appears in a message or a log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import getpass
import logging
import os
import stat
import sys
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcuseal.errors import KeyError_, TokenIOError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from mcuseal.image.crypto import KeyKind

MODULE_ENV = "MCUSEAL_PKCS11_MODULE"
PIN_ENV = "MCUSEAL_PKCS11_PIN"
SCHEME = "pkcs11:"

# Where ``module-name=NAME`` is looked for: p11-kit's module directories and the places
# Debian, Fedora and Homebrew put SoftHSM and OpenSC.
MODULE_DIRS: tuple[str, ...] = (
    "/usr/lib/x86_64-linux-gnu/pkcs11",
    "/usr/lib/aarch64-linux-gnu/pkcs11",
    "/usr/lib64/pkcs11",
    "/usr/lib/pkcs11",
    "/usr/local/lib/pkcs11",
    "/usr/lib/softhsm",
    "/usr/lib/x86_64-linux-gnu/softhsm",
    "/usr/lib64/softhsm",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/local/lib/softhsm",
    "/opt/homebrew/lib/softhsm",
    "/opt/homebrew/lib",
)

_log = logging.getLogger(__name__)

_PIN_TOO_LONG = 1024  # bytes; a pin-source file bigger than this is not a PIN file


class ObjectType(enum.Enum):
    """RFC 7512 ``type=`` values."""

    PUBLIC = "public"
    PRIVATE = "private"
    CERT = "cert"
    SECRET_KEY = "secret-key"
    DATA = "data"


# RFC 7512 section 2.3; dumps() writes them in this order, the token first, as p11tool does.
_PATH_ATTRS = (
    "token",
    "manufacturer",
    "model",
    "serial",
    "slot-description",
    "slot-id",
    "slot-manufacturer",
    "library-description",
    "library-manufacturer",
    "library-version",
    "object",
    "type",
    "id",
)
_QUERY_ATTRS = ("module-name", "module-path", "pin-source", "pin-value")
_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
# Characters RFC 7512 lets stand unencoded in a path / query value besides "unreserved".
_PATH_SAFE = _UNRESERVED + ":[]@!$'()*+,=&"
_QUERY_SAFE = _UNRESERVED + ":[]@!$'()*+,=/?|"


def _field(attr: str) -> str:
    return attr.replace("-", "_")


@dataclasses.dataclass(frozen=True)
class Pkcs11Uri:
    """A parsed RFC 7512 ``pkcs11:`` URI.  Text values are decoded strings, ``id`` is bytes.

    ``repr()`` and :meth:`describe` never show ``pin_value``.
    """

    library_description: str | None = None
    library_manufacturer: str | None = None
    library_version: tuple[int, int] | None = None
    manufacturer: str | None = None
    model: str | None = None
    object: str | None = None
    serial: str | None = None
    slot_description: str | None = None
    slot_id: int | None = None
    slot_manufacturer: str | None = None
    token: str | None = None
    type: ObjectType | None = None
    id: bytes | None = None
    module_name: str | None = None
    module_path: str | None = None
    pin_source: str | None = None
    pin_value: str | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def loads(cls, text: str) -> Pkcs11Uri:
        """Parse *text*; raise :class:`KeyError_` naming the offending part if it is not a URI.

        Attribute names are case-sensitive; an attribute may appear once; unknown attributes
        (including vendor ``x-`` ones) are refused rather than ignored, because ignoring one
        could select a different key than the user meant.
        """
        if not is_pkcs11_uri(text):
            raise KeyError_(
                f"{_shorten(text)!r} is not a PKCS#11 URI; it must start with 'pkcs11:'"
            )
        rest = text[len(SCHEME) :]
        if "#" in rest:
            raise KeyError_("PKCS#11 URI must not contain '#'; percent-encode it as %23")
        path, sep, query = rest.partition("?")
        values: dict[str, Any] = {}
        if path:
            for part in path.split(";"):
                cls._parse_attr(part, "path", _PATH_ATTRS, values)
        if sep:
            if not query:
                raise KeyError_("PKCS#11 URI has an empty query after '?'; remove the '?'")
            for part in query.split("&"):
                cls._parse_attr(part, "query", _QUERY_ATTRS, values)
        if "pin_source" in values and "pin_value" in values:
            raise KeyError_("PKCS#11 URI has both pin-source and pin-value; keep only pin-source")
        return cls(**values)

    @staticmethod
    def _parse_attr(part: str, where: str, allowed: Sequence[str], values: dict[str, Any]) -> None:
        name, eq, raw = part.partition("=")
        if not eq:
            raise KeyError_(
                f"PKCS#11 URI {where} attribute {_shorten(part)!r} has no '='; "
                "write name=value, separated by " + ("';'" if where == "path" else "'&'")
            )
        if name not in allowed:
            other = _QUERY_ATTRS if where == "path" else _PATH_ATTRS
            if name in other:
                place = "after '?'" if where == "path" else "before '?'"
                raise KeyError_(f"PKCS#11 URI attribute {name!r} belongs {place}")
            raise KeyError_(
                f"unknown PKCS#11 URI attribute {_shorten(name)!r}; "
                f"mcuseal understands {', '.join(allowed)}"
            )
        field = _field(name)
        if field in values:
            raise KeyError_(f"PKCS#11 URI attribute {name!r} appears twice; keep one")
        data = _pct_decode(raw, name)
        values[field] = _convert(name, data)

    def dumps(self) -> str:
        """The canonical URI text (``loads(u.dumps()) == u``), ``pin-value`` included."""
        path = []
        for attr in _PATH_ATTRS:
            value = getattr(self, _field(attr))
            if value is not None:
                path.append(f"{attr}={_encode_value(attr, value, _PATH_SAFE)}")
        query = []
        for attr in _QUERY_ATTRS:
            value = getattr(self, _field(attr))
            if value is not None:
                query.append(f"{attr}={_encode_value(attr, value, _QUERY_SAFE)}")
        text = SCHEME + ";".join(path)
        return text + ("?" + "&".join(query) if query else "")

    def describe(self) -> str:
        """The URI for messages and logs: ``pin-value`` replaced, everything else kept."""
        shown = dataclasses.replace(self, pin_value="***" if self.pin_value is not None else None)
        return shown.dumps()

    def with_type(self, object_type: ObjectType) -> Pkcs11Uri:
        """This URI with ``type=`` set (the CLI's default when the user left it out)."""
        return dataclasses.replace(self, type=object_type)


def is_pkcs11_uri(ref: object) -> bool:
    """True if *ref* is a string that starts with the ``pkcs11:`` scheme (any case)."""
    return isinstance(ref, str) and ref[: len(SCHEME)].lower() == SCHEME


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pct_decode(raw: str, name: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "%":
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
                raise KeyError_(
                    f"PKCS#11 URI attribute {name!r} has a bad percent escape "
                    f"{raw[i : i + 3]!r}; write %XX with two hex digits"
                )
            out.append(int(pair, 16))
            i += 3
        else:
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
    return bytes(out)


def _convert(name: str, data: bytes) -> object:
    if name == "id":
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyError_(f"PKCS#11 URI attribute {name!r} is not UTF-8 text") from None
    if name == "type":
        try:
            return ObjectType(text)
        except ValueError:
            choices = ", ".join(t.value for t in ObjectType)
            raise KeyError_(
                f"PKCS#11 URI type={_shorten(text)!r} is not one of {choices}"
            ) from None
    if name == "slot-id":
        # Length first: int() refuses very long digit strings with its own ValueError.
        if len(text) > 20 or not text.isascii() or not text.isdigit() or int(text) >= 2**64:
            raise KeyError_(f"PKCS#11 URI slot-id={_shorten(text)!r} is not a slot number")
        return int(text)
    if name == "library-version":
        major, dot, minor = text.partition(".")
        ok = (
            len(text) <= 7
            and major.isascii()
            and major.isdigit()
            and (not dot or (minor.isascii() and minor.isdigit()))
        )
        if not ok or int(major) > 255 or (dot and int(minor) > 255):
            raise KeyError_(
                f"PKCS#11 URI library-version={_shorten(text)!r} is not M or M.N (0-255)"
            )
        return (int(major), int(minor) if dot else 0)
    return text


def _encode_value(attr: str, value: object, safe: str) -> str:
    if attr == "id":
        assert isinstance(value, bytes)
        # Always %XX, as p11tool and p11-kit print ids: byte values are not text.
        return "".join(f"%{b:02X}" for b in value)
    if isinstance(value, ObjectType):
        return value.value
    if attr == "library-version":
        assert isinstance(value, tuple)
        return f"{value[0]}.{value[1]}"
    return urllib.parse.quote(str(value).encode("utf-8", "surrogatepass"), safe=safe)


# -- module and PIN ------------------------------------------------------------------------


def resolve_module(uri: Pkcs11Uri, module: str | os.PathLike[str] | None = None) -> str:
    """Return the path of the PKCS#11 module to load for *uri*.

    :param module: ``--pkcs11-module``, which wins over the URI and the environment
    :raises KeyError_: none given, or the file does not exist
    """
    if module is not None:
        path, origin = os.fspath(module), "--pkcs11-module"
    elif uri.module_path is not None:
        path, origin = uri.module_path, "the URI's module-path"
    elif uri.module_name is not None:
        path, origin = _find_module_by_name(uri.module_name), "the URI's module-name"
    elif os.environ.get(MODULE_ENV):
        path, origin = os.environ[MODULE_ENV], MODULE_ENV
    else:
        raise KeyError_(
            f"no PKCS#11 module for {uri.describe()}; pass --pkcs11-module PATH or set "
            f"{MODULE_ENV} (SoftHSM: /usr/lib/softhsm/libsofthsm2.so, "
            "OpenSC: /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)"
        )
    if not Path(path).is_file():
        raise KeyError_(f"PKCS#11 module {path} (from {origin}) does not exist; check the path")
    return path


def _find_module_by_name(name: str) -> str:
    if "/" in name or name in ("", ".", ".."):
        raise KeyError_(f"PKCS#11 URI module-name={name!r} must be a bare name; use module-path")
    suffixes = (".dylib", ".so") if sys.platform == "darwin" else (".so",)
    candidates = [name] + [f"{pre}{name}{suf}" for suf in suffixes for pre in ("lib", "")]
    for directory in MODULE_DIRS:
        for candidate in candidates:
            path = Path(directory) / candidate
            if path.is_file():
                return str(path)
    raise KeyError_(
        f"PKCS#11 module-name={name!r} not found in {', '.join(MODULE_DIRS[:4])}, ...; "
        "use module-path=/full/path/to/module.so or --pkcs11-module"
    )


def resolve_pin(
    uri: Pkcs11Uri, *, allow_pin_in_uri: bool = False, prompt: bool = False
) -> str | None:
    """Return the user PIN for *uri*, or None when none is available.

    Order: the URI's ``pin-value`` (only with *allow_pin_in_uri*, and warned about), its
    ``pin-source`` file, :data:`PIN_ENV`, then a prompt when *prompt* is true and stdin is a
    terminal.

    :raises KeyError_: a refused ``pin-value``, an unreadable ``pin-source``
    """
    if uri.pin_value is not None:
        _refuse_pin_value(uri, allow_pin_in_uri)
        _log.warning(
            "using the PIN from the PKCS#11 URI (pin-value): it can leak through shell "
            "history, build logs and process lists; prefer %s or pin-source",
            PIN_ENV,
        )
        return uri.pin_value
    if uri.pin_source is not None:
        return _read_pin_source(uri.pin_source)
    env = os.environ.get(PIN_ENV)
    if env is not None:
        return env
    if prompt and sys.stdin is not None and sys.stdin.isatty():
        label = f"token {uri.token!r}" if uri.token is not None else "the PKCS#11 token"
        return getpass.getpass(f"User PIN for {label}: ")
    return None


def _refuse_pin_value(uri: Pkcs11Uri, allow_pin_in_uri: bool) -> None:
    # Checked even where no login follows: the URI would otherwise reach messages intact.
    if uri.pin_value is not None and not allow_pin_in_uri:
        raise KeyError_(
            "the PKCS#11 URI carries pin-value, which leaks into shell history, logs and "
            f"process lists; remove it and set {PIN_ENV} or pin-source=FILE "
            "(or pass --allow-pin-in-uri)"
        )


def _read_pin_source(source: str) -> str:
    if source.startswith("|"):
        raise KeyError_(
            "pin-source commands ('|program') are not supported; point pin-source at a file "
            f"or set {PIN_ENV}"
        )
    if source.startswith("file:"):
        parsed = urllib.parse.urlparse(source)
        if parsed.netloc not in ("", "localhost"):
            raise KeyError_(f"pin-source {source} names a remote host; use a local file")
        path = Path(urllib.parse.unquote(parsed.path))
    elif ":" in source.split("/", 1)[0] and not Path(source).exists():
        scheme = source.split(":", 1)[0]
        raise KeyError_(f"pin-source scheme {scheme!r} is not supported; use file:/path")
    else:
        path = Path(source)
    try:
        if path.stat().st_size > _PIN_TOO_LONG:
            raise KeyError_(f"pin-source {path} is too big to be a PIN file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyError_(f"pin-source {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise KeyError_(f"pin-source {path} is a directory; point it at the PIN file") from None
    except PermissionError:
        raise KeyError_(f"pin-source {path} is not readable; check its permissions") from None
    except OSError as err:
        raise KeyError_(f"cannot read pin-source {path}: {err.strerror}") from None
    if sys.platform != "win32":
        mode = path.stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            _log.warning(
                "PIN file %s is readable by group/others (mode %o); run 'chmod 600 %s'",
                path,
                stat.S_IMODE(mode),
                path,
            )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyError_(f"pin-source {path} is not UTF-8 text") from None
    # Editors add one newline; a PIN never ends in one.
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


# -- token access --------------------------------------------------------------------------


def _import_pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise KeyError_(
            "PKCS#11 keys need python-pkcs11; install it with: pip install 'mcuseal[pkcs11]'"
        ) from None
    return pkcs11


def _load_library(path: str) -> Any:
    pkcs11 = _import_pkcs11()
    try:
        return pkcs11.lib(path)
    except pkcs11.PKCS11Error as err:
        detail = str(err).rsplit(": ", 1)[-1] or type(err).__name__
        raise KeyError_(f"cannot load PKCS#11 module {path}: {detail}") from None


_CKR_KEY_FUNCTION_NOT_PERMITTED = 0x68
_CKK_EC_MONTGOMERY = 0x41  # X25519/X448; python-pkcs11 has no KeyType member for it

# PKCS#11 return codes that mean "the token or its link failed", not "you asked wrongly".
_DEVICE_ERRORS = (
    "DeviceError",
    "DeviceMemory",
    "DeviceRemoved",
    "FunctionFailed",
    "FunctionCancelled",
    "GeneralError",
    "HostMemory",
    "KeyHandleInvalid",
    "ObjectHandleInvalid",
    "SessionClosed",
    "SessionHandleInvalid",
    "TokenNotPresent",
    "TokenNotRecognised",
)


@contextlib.contextmanager
def _token_errors(doing: str, token: str) -> Iterator[None]:
    """Turn python-pkcs11 exceptions raised while *doing* into mcuseal's one-line errors."""
    pkcs11 = _import_pkcs11()
    try:
        yield
    except pkcs11.PinIncorrect:
        raise KeyError_(
            f"wrong PIN for token {token!r}; check {PIN_ENV} or pin-source "
            "(tokens lock after a few wrong PINs)"
        ) from None
    except pkcs11.PinLocked:
        raise KeyError_(
            f"the user PIN of token {token!r} is locked; unlock it with the SO PIN "
            "(softhsm2-util/pkcs11-tool --init-pin)"
        ) from None
    except pkcs11.PinExpired:
        raise KeyError_(f"the user PIN of token {token!r} has expired; set a new one") from None
    except (pkcs11.PinInvalid, pkcs11.PinLenRange):
        raise KeyError_(
            f"the PIN given for token {token!r} has invalid characters or length; "
            f"check {PIN_ENV} or pin-source"
        ) from None
    except pkcs11.UserPinNotInitialized:
        raise KeyError_(f"token {token!r} has no user PIN yet; initialise it first") from None
    except pkcs11.UserNotLoggedIn:
        raise KeyError_(
            f"token {token!r} needs a login to {doing}; set {PIN_ENV} or pin-source"
        ) from None
    except (
        pkcs11.MechanismInvalid,
        pkcs11.MechanismParamInvalid,
        pkcs11.KeyTypeInconsistent,
        pkcs11.FunctionNotSupported,
    ) as err:
        raise KeyError_(
            f"token {token!r} refuses to {doing} with this key ({type(err).__name__}); "
            "check the token supports the mechanism"
        ) from None
    except pkcs11.PKCS11Error as err:
        name = type(err).__name__
        # python-pkcs11 has no class for CKR_KEY_FUNCTION_NOT_PERMITTED (0x68).
        if str(err).endswith(hex(_CKR_KEY_FUNCTION_NOT_PERMITTED)):
            raise KeyError_(
                f"token {token!r} does not allow this key to {doing} (CKA_SIGN is false); "
                "use a signing key"
            ) from None
        if name in _DEVICE_ERRORS or type(err) is pkcs11.PKCS11Error:
            raise TokenIOError(
                f"token {token!r} failed to {doing} ({name}); check the token is present "
                "and its storage/reader works, then retry"
            ) from None
        raise TokenIOError(f"token {token!r} failed to {doing} ({name})") from None


def _attr_str(value: str) -> str:
    return value.strip()


def _find_token(lib: Any, uri: Pkcs11Uri, module_path: str) -> Any:
    if (
        uri.library_manufacturer is not None
        and _attr_str(lib.manufacturer_id) != uri.library_manufacturer
    ):
        raise KeyError_(
            f"PKCS#11 module {module_path} is from {_attr_str(lib.manufacturer_id)!r}, "
            f"not library-manufacturer={uri.library_manufacturer!r}"
        )
    if (
        uri.library_description is not None
        and _attr_str(lib.library_description) != uri.library_description
    ):
        raise KeyError_(
            f"PKCS#11 module {module_path} is {_attr_str(lib.library_description)!r}, "
            f"not library-description={uri.library_description!r}"
        )
    if uri.library_version is not None and tuple(lib.library_version) != uri.library_version:
        have = ".".join(str(v) for v in lib.library_version)
        raise KeyError_(
            f"PKCS#11 module {module_path} is version {have}, "
            f"not library-version={uri.library_version[0]}.{uri.library_version[1]}"
        )
    pkcs11 = _import_pkcs11()
    with _token_errors("list its slots", uri.token or "?"):
        slots = lib.get_slots(token_present=True)
        found, seen = [], []
        for slot in slots:
            if not _slot_matches(slot, uri):
                continue
            token = slot.get_token()
            if not token.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED:
                continue
            seen.append(token.label)
            if _token_matches(token, uri):
                found.append(token)
    if not found:
        where = f"token={uri.token!r}" if uri.token is not None else "the URI"
        have = ", ".join(repr(label) for label in seen) or "none"
        raise KeyError_(
            f"no PKCS#11 token matches {where} in {module_path} (tokens: {have}); "
            "check token= and that the token is plugged in"
        )
    if len(found) > 1:
        labels = ", ".join(repr(t.label) for t in found)
        raise KeyError_(
            f"{len(found)} PKCS#11 tokens match {uri.describe()} ({labels}); "
            "add token= or serial= to the URI"
        )
    return found[0]


def _slot_matches(slot: Any, uri: Pkcs11Uri) -> bool:
    return (
        (uri.slot_id is None or slot.slot_id == uri.slot_id)
        and (
            uri.slot_description is None or _attr_str(slot.slot_description) == uri.slot_description
        )
        and (
            uri.slot_manufacturer is None
            or _attr_str(slot.manufacturer_id) == uri.slot_manufacturer
        )
    )


def _token_matches(token: Any, uri: Pkcs11Uri) -> bool:
    serial = (
        token.serial.decode("ascii", "replace").strip()
        if isinstance(token.serial, bytes)
        else str(token.serial)
    )
    return (
        (uri.token is None or _attr_str(token.label) == uri.token)
        and (uri.manufacturer is None or _attr_str(token.manufacturer_id) == uri.manufacturer)
        and (uri.model is None or _attr_str(token.model) == uri.model)
        and (uri.serial is None or serial == uri.serial)
    )


def _object_desc(uri: Pkcs11Uri) -> str:
    parts = []
    if uri.object is not None:
        parts.append(f"object={uri.object!r}")
    if uri.id is not None:
        parts.append(f"id={uri.id.hex()}")
    return " ".join(parts) or "(any)"


def _find_one(session: Any, uri: Pkcs11Uri, object_class: Any, kind: str, token: str) -> Any:
    pkcs11 = _import_pkcs11()
    attrs: dict[Any, Any] = {pkcs11.Attribute.CLASS: object_class}
    if uri.object is not None:
        attrs[pkcs11.Attribute.LABEL] = uri.object
    if uri.id is not None:
        attrs[pkcs11.Attribute.ID] = uri.id
    with _token_errors(f"search for the {kind}", token):
        found = list(session.get_objects(attrs))
    if not found:
        hint = (
            f"log in ({PIN_ENV}) and list them with 'pkcs11-tool --list-objects --login'"
            if kind == "private key"
            else "list them with 'pkcs11-tool --list-objects'"
        )
        raise KeyError_(f"no {kind} {_object_desc(uri)} on token {token!r}; {hint}")
    if len(found) > 1:
        raise KeyError_(
            f"{len(found)} {kind}s match {_object_desc(uri)} on token {token!r}; "
            "add object= or id= to the URI"
        )
    return found[0]


class _Token:
    """An open session on the token a URI names (closed by :meth:`close`)."""

    def __init__(
        self,
        uri: Pkcs11Uri,
        *,
        module: str | os.PathLike[str] | None,
        login: bool,
        allow_pin_in_uri: bool,
        prompt: bool,
    ) -> None:
        pkcs11 = _import_pkcs11()
        _refuse_pin_value(uri, allow_pin_in_uri)
        self.module_path = resolve_module(uri, module)
        lib = _load_library(self.module_path)
        token = _find_token(lib, uri, self.module_path)
        self.label: str = _attr_str(token.label)
        self.pin: str | None = None
        user_pin: object = None
        if login and token.flags & pkcs11.TokenFlag.LOGIN_REQUIRED:
            self.pin = resolve_pin(uri, allow_pin_in_uri=allow_pin_in_uri, prompt=prompt)
            if self.pin is not None:
                user_pin = self.pin
            elif token.flags & pkcs11.TokenFlag.PROTECTED_AUTHENTICATION_PATH:
                user_pin = pkcs11.PROTECTED_AUTH
            else:
                raise KeyError_(
                    f"token {self.label!r} needs the user PIN; set {PIN_ENV}, add "
                    "pin-source=FILE to the URI, or run in a terminal to be asked"
                )
        _log.debug("PKCS#11: module %s, token %r, login %s", self.module_path, self.label, login)
        with _token_errors("open a session", self.label):
            try:
                self.session = token.open(user_pin=user_pin)
            except pkcs11.UserAlreadyLoggedIn:
                # The login state is per application: another session of this process is
                # already logged in, so this one is too.
                self.session = token.open()

    def close(self) -> None:
        pkcs11 = _import_pkcs11()
        # Closing after the token went away fails too; the error was reported already.
        with contextlib.suppress(pkcs11.PKCS11Error):
            self.session.close()


# -- public keys ---------------------------------------------------------------------------

_OID_P256 = bytes.fromhex("06082a8648ce3d030107")
_OID_P384 = bytes.fromhex("06052b81040022")
_OID_ED25519 = bytes.fromhex("06032b6570")
_OID_ED448 = bytes.fromhex("06032b6571")
# PKCS#11 3.0 also allows the curve name as a PrintableString.
_NAME_ED25519 = b"\x13\x0cedwards25519"


def _der_octet_string(data: bytes, inner_len: int) -> bytes | None:
    """The content of DER OCTET STRING *data* if it holds exactly *inner_len* bytes."""
    if len(data) < 2 or data[0] != 0x04:
        return None
    if data[1] < 0x80:
        header = 2
        length = data[1]
    elif data[1] == 0x81 and len(data) >= 3:
        header = 3
        length = data[2]
    else:
        return None
    if length != inner_len or len(data) != header + length:
        return None
    return data[header:]


def _public_from_attributes(obj: Any, token: str) -> PublicKeyTypes:
    """Build a ``cryptography`` public key from a token object's public attributes."""
    import pkcs11
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key_type = obj.key_type
    label = _object_label(obj)
    with _token_errors("read the public key", token):
        if key_type == pkcs11.KeyType.RSA:
            modulus = int.from_bytes(obj[pkcs11.Attribute.MODULUS], "big")
            exponent = int.from_bytes(obj[pkcs11.Attribute.PUBLIC_EXPONENT], "big")
            try:
                return rsa.RSAPublicNumbers(exponent, modulus).public_key()
            except ValueError:
                raise KeyError_(f"key {label} on token {token!r} is not a valid RSA key") from None
        if key_type in (pkcs11.KeyType.EC, pkcs11.KeyType.EC_EDWARDS):
            params = bytes(obj[pkcs11.Attribute.EC_PARAMS])
            point = bytes(obj[pkcs11.Attribute.EC_POINT])
        else:
            params = point = b""
    if key_type == pkcs11.KeyType.EC:
        curves: dict[bytes, tuple[ec.EllipticCurve, int]] = {
            _OID_P256: (ec.SECP256R1(), 65),
            _OID_P384: (ec.SECP384R1(), 97),
        }
        if params not in curves:
            raise KeyError_(
                f"key {label} on token {token!r} is on an EC curve MCUboot cannot use "
                "(EC_PARAMS " + params.hex() + "); use P-256 or P-384"
            )
        curve, size = curves[params]
        raw = _der_octet_string(point, size) or point
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, raw)
        except ValueError:
            raise KeyError_(f"key {label} on token {token!r} has an invalid EC point") from None
    if key_type == pkcs11.KeyType.EC_EDWARDS:
        if params == _OID_ED448:
            raise KeyError_(f"key {label} on token {token!r} is Ed448; MCUboot signs with Ed25519")
        if params not in (_OID_ED25519, _NAME_ED25519):
            raise KeyError_(
                f"key {label} on token {token!r} is an Edwards key MCUboot cannot use; use Ed25519"
            )
        raw = _der_octet_string(point, 32) or point
        try:
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise KeyError_(
                f"key {label} on token {token!r} has an invalid Ed25519 point"
            ) from None
    if key_type == _CKK_EC_MONTGOMERY:
        raise KeyError_(
            f"key {label} on token {token!r} is an X25519 key; mcuseal reads X25519 keys from "
            "files only: pass the device's X25519 public PEM to -E"
        )
    name = getattr(key_type, "name", str(key_type))
    raise KeyError_(
        f"key {label} on token {token!r} is a {name} key; MCUboot images take "
        "ECDSA P-256/P-384, Ed25519 or RSA-2048/3072"
    )


def _object_label(obj: Any) -> str:
    import pkcs11

    parts = []
    with contextlib.suppress(Exception):
        parts.append(repr(obj[pkcs11.Attribute.LABEL]))
    with contextlib.suppress(Exception):
        key_id = bytes(obj[pkcs11.Attribute.ID])
        if key_id:
            parts.append(f"id={key_id.hex()}")
    return " ".join(parts) or "(unlabelled)"


def _check_usable(public: PublicKeyTypes, label: str, token: str) -> KeyKind:
    """Return the key's signature scheme, or raise for keys MCUboot cannot use."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    from mcuseal.image.crypto import key_kind

    if isinstance(public, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        return key_kind(public)  # curves were vetted when the point was read
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size in (2048, 3072):
            return key_kind(public)
        raise KeyError_(
            f"key {label} on token {token!r} is RSA-{public.key_size}; "
            "MCUboot takes RSA-2048 or RSA-3072"
        )
    raise KeyError_(f"key {label} on token {token!r} is not a key MCUboot can use")


def load_public_key(
    uri: str | Pkcs11Uri,
    *,
    module: str | os.PathLike[str] | None = None,
    allow_pin_in_uri: bool = False,
    prompt: bool = False,
) -> PublicKeyTypes:
    """Read a public key from a token (for ``getpub``, ``-E`` and ``verify -k``).

    A URI without ``type=`` means the public key object; ``type=private`` means the public
    half of that private key (a login is needed to see private objects).

    :raises KeyError_: bad URI, missing module/token/object, a key MCUboot cannot use
    :raises TokenIOError: the token failed
    """
    parsed = uri if isinstance(uri, Pkcs11Uri) else Pkcs11Uri.loads(uri)
    if parsed.type is None:
        parsed = parsed.with_type(ObjectType.PUBLIC)
    if parsed.type is ObjectType.PRIVATE:
        with open_signer(
            parsed, module=module, allow_pin_in_uri=allow_pin_in_uri, prompt=prompt
        ) as signer:
            return signer.public_key()
    _refuse_non_key(parsed)
    import pkcs11

    tok = _Token(
        parsed, module=module, login=False, allow_pin_in_uri=allow_pin_in_uri, prompt=False
    )
    try:
        obj = _find_one(tok.session, parsed, pkcs11.ObjectClass.PUBLIC_KEY, "public key", tok.label)
        public = _public_from_attributes(obj, tok.label)
        _check_usable(public, _object_label(obj), tok.label)
        return public
    finally:
        tok.close()


def _refuse_non_key(uri: Pkcs11Uri) -> None:
    if uri.type in (ObjectType.PUBLIC, ObjectType.PRIVATE):
        return
    assert uri.type is not None
    raise KeyError_(
        f"PKCS#11 URI type={uri.type.value} is not a key mcuseal can use; use type=private "
        "for signing or type=public for the public key"
    )


# -- signing -------------------------------------------------------------------------------


class Pkcs11Signer:
    """Signs MCUboot images with a private key that stays inside a PKCS#11 token.

    Implements :class:`mcuseal.image.Signer`.  Open it with :func:`open_signer` and close it
    (or use it as a context manager): the session stays logged in while it is open.

    Each signature is checked against the public key before it is returned, so a public
    object that does not belong to the private key (or a faulty token) is caught here and
    not by the bootloader.
    """

    def __init__(self, token: _Token, private: Any, public: PublicKeyTypes, kind: KeyKind) -> None:
        self._token = token
        self._private = private
        self._public = public
        self._kind = kind
        self.token_label = token.label
        self.object_label = _object_label(private)

    @property
    def key_kind(self) -> KeyKind:
        """The signature scheme (decides the signature TLV and the image hash)."""
        return self._kind

    def public_key(self) -> PublicKeyTypes:
        """The ``cryptography`` public key of the token's key pair."""
        return self._public

    def public_key_bytes(self) -> bytes:
        """MCUboot's encoding: DER SubjectPublicKeyInfo for EC/Ed25519, DER PKCS#1 for RSA."""
        from mcuseal.image.crypto import public_key_bytes

        return public_key_bytes(self._public)

    def sign(self, to_sign: bytes) -> bytes:
        """Sign *to_sign* (the digest, or for pure Ed25519 the region) and return the TLV value.

        ECDSA: CKM_ECDSA over the digest, r||s re-encoded as DER.  RSA: CKM_RSA_PKCS_PSS with
        SHA-256, MGF1-SHA-256 and a 32-byte salt, as bootutil verifies.  Ed25519: CKM_EDDSA.
        """
        import pkcs11
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        kind = self._kind.value
        if kind.startswith("rsa") and len(to_sign) != 32:
            raise KeyError_(
                f"RSA-PSS signing for MCUboot needs a SHA-256 digest, got {len(to_sign)} bytes"
            )
        if kind.startswith("ecdsa") and len(to_sign) not in (32, 48, 64):
            raise KeyError_(f"ECDSA signing needs a SHA-2 digest, got {len(to_sign)} bytes")
        kwargs: dict[str, Any] = {}
        if kind.startswith("ecdsa"):
            kwargs["mechanism"] = pkcs11.Mechanism.ECDSA
        elif kind.startswith("rsa"):
            kwargs["mechanism"] = pkcs11.Mechanism.RSA_PKCS_PSS
            kwargs["mechanism_param"] = (pkcs11.Mechanism.SHA256, pkcs11.MGF.SHA256, 32)
        else:
            kwargs["mechanism"] = pkcs11.Mechanism.EDDSA
        if self._always_authenticate():
            kwargs["pin"] = self._token.pin
        _log.debug(
            "PKCS#11: signing %d bytes with %s key %s on token %r",
            len(to_sign),
            kind,
            self.object_label,
            self.token_label,
        )
        with _token_errors("sign", self.token_label):
            raw = bytes(self._private.sign(to_sign, **kwargs))
        if kind.startswith("ecdsa"):
            half = len(raw) // 2
            if len(raw) % 2 or half == 0:
                raise TokenIOError(
                    f"token {self.token_label!r} returned a {len(raw)}-byte ECDSA signature"
                )
            signature = encode_dss_signature(
                int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
            )
        else:
            signature = raw
        self._check(signature, to_sign)
        return signature

    def _always_authenticate(self) -> bool:
        import pkcs11

        try:
            return bool(self._private[pkcs11.Attribute.ALWAYS_AUTHENTICATE])
        except pkcs11.PKCS11Error:
            return False

    def _check(self, signature: bytes, to_sign: bytes) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

        public = self._public
        digests = {32: hashes.SHA256(), 48: hashes.SHA384(), 64: hashes.SHA512()}
        try:
            if isinstance(public, ec.EllipticCurvePublicKey):
                public.verify(signature, to_sign, ec.ECDSA(utils.Prehashed(digests[len(to_sign)])))
            elif isinstance(public, rsa.RSAPublicKey):
                public.verify(
                    signature,
                    to_sign,
                    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                    utils.Prehashed(hashes.SHA256()),
                )
            elif isinstance(public, ed25519.Ed25519PublicKey):
                public.verify(signature, to_sign)
        except InvalidSignature:
            raise KeyError_(
                f"the signature from token {self.token_label!r} does not verify with the "
                f"public key found for {self.object_label}; the public object belongs to "
                "another key pair (check id=)"
            ) from None

    def close(self) -> None:
        """Log out and close the session."""
        self._token.close()

    def __enter__(self) -> Pkcs11Signer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_signer(
    uri: str | Pkcs11Uri,
    *,
    module: str | os.PathLike[str] | None = None,
    allow_pin_in_uri: bool = False,
    prompt: bool = False,
) -> Pkcs11Signer:
    """Log in to the token *uri* names and return a signer for its private key.

    A URI without ``type=`` means the private key.  The public half comes from the public
    key object with the private key's ``CKA_ID`` (else its label); for RSA it can also be
    read from the private key's public attributes.

    :param module: ``--pkcs11-module``
    :param allow_pin_in_uri: accept (with a warning) a ``pin-value`` in the URI
    :param prompt: ask for the PIN on the terminal when no other source has it
    :raises KeyError_: bad URI, wrong PIN, missing module/token/object, unusable key
    :raises TokenIOError: the token failed
    """
    import pkcs11

    parsed = uri if isinstance(uri, Pkcs11Uri) else Pkcs11Uri.loads(uri)
    if parsed.type is None:
        parsed = parsed.with_type(ObjectType.PRIVATE)
    if parsed.type is ObjectType.PUBLIC:
        raise KeyError_(
            "cannot sign with a public key (the URI says type=public); use type=private"
        )
    _refuse_non_key(parsed)
    tok = _Token(
        parsed, module=module, login=True, allow_pin_in_uri=allow_pin_in_uri, prompt=prompt
    )
    try:
        private = _find_one(
            tok.session, parsed, pkcs11.ObjectClass.PRIVATE_KEY, "private key", tok.label
        )
        if not hasattr(private, "sign"):  # python-pkcs11 leaves it out when CKA_SIGN is false
            raise KeyError_(
                f"token {tok.label!r} does not allow key {_object_label(private)} to sign "
                "(CKA_SIGN is false); use a signing key"
            )
        public = _paired_public(tok, private)
        kind = _check_usable(public, _object_label(private), tok.label)
        _warn_if_extractable(private, tok.label)
        return Pkcs11Signer(tok, private, public, kind)
    except BaseException:
        tok.close()
        raise


def _paired_public(tok: _Token, private: Any) -> PublicKeyTypes:
    import pkcs11

    attrs: dict[Any, Any] = {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PUBLIC_KEY}
    with _token_errors("read the private key's attributes", tok.label):
        key_id = bytes(private[pkcs11.Attribute.ID])
        label = private[pkcs11.Attribute.LABEL]
    if key_id:
        attrs[pkcs11.Attribute.ID] = key_id
    elif label:
        attrs[pkcs11.Attribute.LABEL] = label
    candidates: list[Any] = []
    if len(attrs) > 1:
        with _token_errors("search for the public key", tok.label):
            candidates = list(tok.session.get_objects(attrs))
    if len(candidates) == 1:
        return _public_from_attributes(candidates[0], tok.label)
    if private.key_type == pkcs11.KeyType.RSA:
        # RSA private objects carry the modulus and public exponent as public attributes.
        return _public_from_attributes(private, tok.label)
    what = f"id={key_id.hex()}" if key_id else f"label {label!r}"
    if not candidates:
        raise KeyError_(
            f"no public key object with {what} next to private key {_object_label(private)} on "
            f"token {tok.label!r}; MCUboot needs the public key (KEYHASH), so import it with "
            "the same id"
        )
    raise KeyError_(
        f"{len(candidates)} public key objects have {what} on token {tok.label!r}; "
        "give each key pair its own id"
    )


def _warn_if_extractable(private: Any, token: str) -> None:
    import pkcs11

    try:
        extractable = bool(private[pkcs11.Attribute.EXTRACTABLE])
        sensitive = bool(private[pkcs11.Attribute.SENSITIVE])
    except pkcs11.PKCS11Error:
        return
    if extractable or not sensitive:
        _log.warning(
            "private key %s on token %r can be exported (CKA_EXTRACTABLE=%s, CKA_SENSITIVE=%s); "
            "generate signing keys inside the token as non-extractable",
            _object_label(private),
            token,
            extractable,
            sensitive,
        )


__all__ = [
    "MODULE_ENV",
    "PIN_ENV",
    "ObjectType",
    "Pkcs11Signer",
    "Pkcs11Uri",
    "is_pkcs11_uri",
    "load_public_key",
    "open_signer",
    "resolve_module",
    "resolve_pin",
]
