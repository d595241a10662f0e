"""Reading SPSDK ``nxpimage`` YAML/JSON configuration files the way ``nxpimage`` does.

NXP users keep these files; mcuseal accepts them unchanged.  The rules copied here are
behaviour, read from SPSDK 3.12's source: relative input paths are looked up next to the
configuration file first, then in the current directory; keys are hex strings (with or
without ``0x``), integers, or files holding hex text or raw bytes; output names get
``.bin`` appended and land in ``output_folder`` unless they contain a directory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mcuseal.errors import InputError

_INT_RE = re.compile(r"(?P<prefix>0[box])?(?P<number>[0-9a-f_]+)(?P<suffix>[ul]{0,3})$")


@dataclass(frozen=True)
class Field:
    """What ``nxpimage``'s JSON schema allows for one configuration key.

    ``nxpimage`` validates the whole file against its schema before reading any value, so a
    value of the wrong type is refused even where it would be unambiguous (an unquoted
    ``0x...`` key is a YAML integer, and key fields take strings only).

    :param kind: ``str``; ``int`` (an integer or a numeric string); ``number`` (an integer
        only); ``bool``; ``key`` (a hex string or the name of an existing file); ``file``
        (the name of an existing file); ``list`` (of mappings described by *items*);
        ``map`` (a mapping described by *items*).
    :param one_of: for a list, each item holds exactly one of these keys.
    """

    kind: str
    required: bool = False
    choices: tuple[str, ...] = ()
    items: Mapping[str, Field] = field(default_factory=dict)
    min_items: int = 0
    max_items: int | None = None
    one_of: tuple[str, ...] = ()


Schema = Mapping[str, Field]


class NxpimageConfig:
    """One loaded configuration file (or a section of it) with its directory.

    :param data: the parsed mapping.
    :param path: the configuration file, for messages and relative paths.
    """

    def __init__(self, data: Mapping[str, Any], path: Path) -> None:
        self.data = data
        self.path = path.resolve()
        self.config_dir = self.path.parent

    @classmethod
    def load_file(cls, path: str | os.PathLike[str]) -> NxpimageConfig:
        """Parse *path* as JSON, else YAML.

        :raises InputError: unreadable, or not a mapping.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"cannot read configuration {p}: {err}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as err:
                first = " ".join(str(err).split())
                raise InputError(f"{p} is not valid YAML: {first}") from None
        if not isinstance(data, dict) or not data:
            raise InputError(f"{p} does not hold a configuration mapping")
        return cls(data, p)

    def check(self, schema: Schema) -> None:
        """Refuse what ``nxpimage``'s schema check refuses (types, required keys, choices).

        :raises InputError: naming the first offending key.
        """
        self._check_map(self.data, schema, "")

    def _check_map(self, data: Mapping[str, Any], schema: Schema, where: str) -> None:
        for key, spec in schema.items():
            if key in data:
                self._check_value(data[key], spec, f"{where}{key}")
            elif spec.required:
                raise InputError(f"{self.path.name}: required key {where}{key!r} is missing")

    def _check_value(self, value: Any, spec: Field, where: str) -> None:
        def bad(expected: str) -> InputError:
            return InputError(f"{self.path.name}: {where} must be {expected}, not {value!r}")

        kind = spec.kind
        if kind in ("str", "key", "file") and not isinstance(value, str):
            hint = " (quote hex keys: YAML reads 0x... as a number)" if kind == "key" else ""
            raise bad("a string" + hint)
        if kind == "str" and spec.choices and value not in spec.choices:
            raise bad("one of " + ", ".join(spec.choices))
        if kind == "key" and not _is_hex(value) and self._find(value) is None:
            raise bad("hex or the name of an existing file")
        if kind == "file" and self._find(value) is None:
            raise InputError(
                f"{self.path.name}: {where} names {value!r}, which is neither next to the "
                f"configuration ({self.config_dir}) nor in the current directory"
            )
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise bad("a number")
            to_int(value, f"{self.path.name}: {where}")
        if kind == "number" and (isinstance(value, bool) or not isinstance(value, int)):
            raise bad("a number (not a string)")
        if kind == "bool" and not isinstance(value, bool):
            raise bad("true or false")
        if kind == "map":
            if not isinstance(value, Mapping):
                raise bad("a mapping")
            self._check_map(value, spec.items, f"{where}.")
        if kind == "list":
            if not isinstance(value, list):
                raise bad("a list")
            if len(value) < spec.min_items or (
                spec.max_items is not None and len(value) > spec.max_items
            ):
                most = "" if spec.max_items is None else f"-{spec.max_items}"
                raise InputError(
                    f"{self.path.name}: {where} needs {spec.min_items}{most or ' or more'} "
                    f"entries, has {len(value)}"
                )
            for i, item in enumerate(value):
                if not isinstance(item, Mapping):
                    raise InputError(f"{self.path.name}: {where}[{i}] must be a mapping")
                if spec.one_of and sum(k in item for k in spec.one_of) != 1:
                    raise InputError(
                        f"{self.path.name}: {where}[{i}] needs exactly one of "
                        + ", ".join(spec.one_of)
                    )
                self._check_map(item, spec.items, f"{where}[{i}].")

    def _find(self, name: str) -> Path | None:
        try:
            return self.find_input(name, "")
        except InputError:
            return None

    def section(self, value: Any, where: str) -> NxpimageConfig:
        if not isinstance(value, Mapping):
            raise InputError(f"{self.path.name}: {where} must be a mapping")
        return NxpimageConfig(value, self.path)

    def sections(self, key: str) -> list[NxpimageConfig]:
        value = self.require(key)
        if not isinstance(value, list):
            raise InputError(f"{self.path.name}: {key!r} must be a list")
        return [self.section(item, f"{key}[{i}]") for i, item in enumerate(value)]

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def require(self, key: str) -> Any:
        if key not in self.data:
            raise InputError(f"{self.path.name}: required key {key!r} is missing")
        return self.data[key]

    def get_int(self, key: str, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if value is None:
            raise InputError(f"{self.path.name}: required key {key!r} is missing")
        return to_int(value, f"{self.path.name}: {key!r}")

    def get_str(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise InputError(f"{self.path.name}: {key!r} must be a string")
        return value

    def find_input(self, name: str, key: str) -> Path:
        """Resolve an input path: absolute, next to the configuration, then the cwd."""
        p = Path(name)
        if p.is_absolute():
            if p.is_file():
                return p
        else:
            beside = self.config_dir / p
            if beside.is_file():
                return beside.resolve()
            if p.is_file():
                return p.resolve()
        raise InputError(
            f"{self.path.name}: {key!r} names {name!r}, which is neither next to the "
            f"configuration ({self.config_dir}) nor in the current directory"
        )

    def input_bytes(self, key: str) -> bytes:
        path = self.find_input(self.get_str(key), key)
        return path.read_bytes()

    def symmetric_key(self, key: str, size: int, *, what: str = "key") -> bytes:
        """A key given as hex, integer, or a file with hex text or raw bytes."""
        value = self.require(key)
        where = f"{self.path.name}: {key!r}"
        if isinstance(value, bool) or not isinstance(value, (str, int, bytes)):
            raise InputError(f"{where} must be hex or a file name")
        if isinstance(value, bytes):
            result = value
        elif isinstance(value, int):
            result = _int_to_bytes(value, size, where)
        else:
            result = self._key_from_text(value, size, where)
        if len(result) != size:
            raise InputError(f"{where}: {what} must be {size} bytes, got {len(result)}")
        return result

    def _key_from_text(self, value: str, size: int, where: str) -> bytes:
        if not value:
            # nxpimage silently draws a random key nobody can reproduce.
            raise InputError(
                f"{where} is empty; give the key, or leave the key out where nxpimage "
                "generates one and saves it"
            )
        try:
            path = self.find_input(value, where)
        except InputError:
            path = None
        if path is not None:
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
                hexed = text if text.startswith(("0x", "0X")) else "0x" + text
                result = _int_to_bytes(to_int(hexed, where), size, where)
            except (UnicodeDecodeError, InputError):
                return raw
            return result
        hexed = value if value.startswith(("0x", "0X")) else "0x" + value
        try:
            return _int_to_bytes(to_int(hexed, where), size, where)
        except InputError:
            raise InputError(
                f"{where}: {value!r} is neither hex nor an existing file name"
            ) from None

    def output_folder(self) -> Path:
        folder = self.get_str("output_folder")
        return Path(os.path.abspath(self.config_dir / folder))

    def output_path(
        self, key: str, default: str, folder: Path, extension: str = ".bin"
    ) -> Path | None:
        """``nxpimage``'s rule for output names (``None`` when set to ``""``)."""
        name = self.data.get(key, default)
        if not isinstance(name, str):
            raise InputError(f"{self.path.name}: {key!r} must be a string")
        if name == "":
            return None
        if not os.path.dirname(name):
            name = os.path.join(folder, name)
        if not name.endswith(extension):
            name += extension
        return Path(os.path.abspath(self.config_dir / name))


def _is_hex(text: str) -> bool:
    """``nxpimage``'s test for a hex value: optional 0x, odd lengths allowed, may be empty."""
    digits = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        bytes.fromhex(digits if len(digits) % 2 == 0 else "0" + digits)
    except ValueError:
        return False
    return True


def to_int(value: Any, where: str) -> int:
    """SPSDK's integer rule: ints, or strings with an optional 0x/0b/0o prefix."""
    if isinstance(value, bool):
        raise InputError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value:
        match = _INT_RE.match(value.strip().lower())
        if match:
            base = {"0b": 2, "0o": 8, "0x": 16, None: 10}[match.group("prefix")]
            try:
                return int(match.group("number"), base=base)
            except ValueError:
                pass
    raise InputError(f"{where}: expected a number, got {value!r}")


def _int_to_bytes(value: int, size: int, where: str) -> bytes:
    try:
        return value.to_bytes(size, "big")
    except OverflowError:
        raise InputError(f"{where}: value does not fit in {size} bytes") from None
