"""Reading Kconfig ``.config`` files and Partition Manager ``pm.config`` files.

Both are written by the SDK's own generators in the same ``NAME=value`` dialect:
``y``/``n``/``m``, a double-quoted string with ``\\"`` and ``\\\\`` escapes, or a bare
integer (decimal or ``0x`` hex).  ``# NAME is not set`` records an explicit *no*, which
matters: it tells an option that exists but is off from an option this SDK never had.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mcuseal.errors import BuildError

_NAME = r"[A-Za-z0-9_]+"
_ASSIGN = re.compile(rf"^({_NAME})=(.*)$")
_NOT_SET = re.compile(rf"^# ({_NAME}) is not set$")
_BARE = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|[0-9]+)$|^[ynm]$")

Value = str | bool


@dataclass(frozen=True)
class DotConfig:
    """The values of one ``.config`` or ``pm.config`` file.

    ``values`` maps a symbol to ``True``/``False`` (``y``/``# ... is not set``) or to the
    text of a string or integer value (quotes removed, escapes resolved).
    """

    values: Mapping[str, Value] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def loads(cls, text: str, source: str = "<.config>") -> DotConfig:
        """Parse *text*; a line in neither form raises :class:`BuildError` naming it."""
        values: dict[str, Value] = {}
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                m = _NOT_SET.match(line)
                if m:
                    values[m.group(1)] = False
                continue
            m = _ASSIGN.match(line)
            if m is None:
                raise BuildError(
                    f"{source}:{lineno}: not a Kconfig line: {raw[:60]!r}; the file is "
                    "corrupt, rebuild (west build -p) to regenerate it"
                )
            values[m.group(1)] = _value(m.group(2), source, lineno)
        return cls(values=values, source=source)

    @classmethod
    def load_file(cls, path: Path) -> DotConfig:
        """Read and parse *path* (UTF-8); unreadable files raise :class:`BuildError`."""
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise BuildError(f"{path} is missing; is this a complete build directory?") from None
        except (OSError, UnicodeDecodeError) as err:
            raise BuildError(f"cannot read {path}: {err}") from None
        return cls.loads(text, str(path))

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def is_set(self, name: str) -> bool:
        """``True`` when *name* is ``y`` (or ``m``)."""
        return self.values.get(name) is True

    def string(self, name: str, default: str | None = None) -> str | None:
        """The text of *name*, or *default* when absent or a boolean."""
        value = self.values.get(name)
        return value if isinstance(value, str) else default

    def integer(self, name: str, default: int | None = None) -> int | None:
        """*name* as an integer (decimal or hex); a non-numeric value raises :class:`BuildError`."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return default
        try:
            return int(value, 0)
        except ValueError:
            raise BuildError(f"{self.source}: {name}={value!r} is not an integer") from None

    def require_int(self, name: str) -> int:
        """*name* as an integer; absent raises :class:`BuildError` naming the file."""
        value = self.integer(name)
        if value is None:
            raise BuildError(
                f"{self.source} has no {name}; the build is incomplete or not what mcuseal "
                "expects, rebuild it"
            )
        return value


def _value(text: str, source: str, lineno: int) -> Value:
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise BuildError(f"{source}:{lineno}: unterminated string; the file is corrupt")
        out: list[str] = []
        body = text[1:-1]
        i = 0
        while i < len(body):
            ch = body[i]
            if ch == "\\" and i + 1 < len(body):
                out.append(body[i + 1])
                i += 2
                continue
            if ch == '"':
                raise BuildError(f"{source}:{lineno}: stray quote in a string value")
            out.append(ch)
            i += 1
        return "".join(out)
    if text in ("y", "m"):
        return True
    if text == "n":
        return False
    if not _BARE.match(text):
        raise BuildError(
            f"{source}:{lineno}: value {text[:40]!r} is neither y/n, a number nor a string"
        )
    return text
