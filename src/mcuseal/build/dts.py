"""A reader for the final devicetree a Zephyr build writes (``zephyr/zephyr.dts``).

Only what signing needs: labels, ``reg``, ``write-block-size``, ``compatible`` and the
``/chosen`` node.  ``zephyr.dts`` is already preprocessed (no ``#include``, no macros),
so a small recursive-descent parser over its tokens suffices; anything it cannot parse
raises :class:`~mcuseal.errors.BuildError` rather than guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mcuseal.errors import BuildError

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|/\*.*?\*/|//[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<cells><[^>]*>)
  | (?P<bytes>\[[^\]]*\])
  | (?P<ref>&[A-Za-z_][A-Za-z0-9_]*|&\{[^}]*\})
  | (?P<directive>/[a-z][a-z0-9-]*/)
  | (?P<label>[A-Za-z_][A-Za-z0-9_]*:)
  | (?P<word>[A-Za-z0-9,._+@#?/-]+)
  | (?P<punct>[{};=,])
    """,
    re.VERBOSE | re.DOTALL,
)

CellValue = int | str  # str: a phandle reference such as "&flash0"
PropValue = tuple[CellValue, ...] | str | bytes


@dataclass
class Node:
    """One devicetree node: its path, labels, properties and children."""

    path: str
    labels: list[str] = field(default_factory=list)
    props: dict[str, list[PropValue]] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False)

    def cells(self, name: str) -> tuple[CellValue, ...] | None:
        """The concatenated cells of property *name*, or ``None``."""
        values = self.props.get(name)
        if values is None:
            return None
        out: list[CellValue] = []
        for value in values:
            if isinstance(value, tuple):
                out.extend(value)
            elif isinstance(value, str) and value.startswith("&"):
                out.append(value)
        return tuple(out)

    def int_prop(self, name: str) -> int | None:
        """The first cell of *name* when it is an integer."""
        cells = self.cells(name)
        if cells and isinstance(cells[0], int):
            return cells[0]
        return None

    def strings(self, name: str) -> list[str]:
        return [v for v in self.props.get(name, []) if isinstance(v, str)]

    def reg(self) -> list[tuple[int, int]]:
        """``reg`` as (address, size) pairs (parent's ``#address-cells``/``#size-cells``)."""
        cells = self.cells("reg")
        if not cells:
            return []
        parent = self.parent
        addr_cells = (parent.int_prop("#address-cells") if parent else None) or 2
        size_cells = parent.int_prop("#size-cells") if parent else None
        size_cells = 1 if size_cells is None else size_cells
        step = addr_cells + size_cells
        if any(not isinstance(c, int) for c in cells) or step == 0 or len(cells) % step:
            raise BuildError(f"devicetree node {self.path}: malformed reg property")
        ints = [int(c) for c in cells]
        pairs = []
        for i in range(0, len(ints), step):
            addr = _join(ints[i : i + addr_cells])
            size = _join(ints[i + addr_cells : i + step])
            pairs.append((addr, size))
        return pairs


def _join(cells: list[int]) -> int:
    value = 0
    for cell in cells:
        value = (value << 32) | cell
    return value


@dataclass
class Devicetree:
    """A parsed ``zephyr.dts``: the root node plus a label index."""

    root: Node
    labels: dict[str, Node]
    source: str = ""

    @classmethod
    def loads(cls, text: str, source: str = "<zephyr.dts>") -> Devicetree:
        tokens = _tokenize(text, source)
        root = Node(path="/")
        parser = _Parser(tokens, source)
        parser.top(root)
        labels: dict[str, Node] = {}
        stack = [root]
        while stack:
            node = stack.pop()
            for label in node.labels:
                labels[label] = node
            stack.extend(node.children)
        return cls(root=root, labels=labels, source=source)

    @classmethod
    def load_file(cls, path: Path) -> Devicetree:
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise BuildError(f"cannot read {path}: {err}") from None
        return cls.loads(text, str(path))

    def node(self, path: str) -> Node | None:
        node = self.root
        for part in [p for p in path.split("/") if p]:
            found = next((c for c in node.children if c.path.rsplit("/", 1)[-1] == part), None)
            if found is None:
                found = next(
                    (c for c in node.children if c.path.rsplit("/", 1)[-1].split("@")[0] == part),
                    None,
                )
            if found is None:
                return None
            node = found
        return node

    def resolve(self, ref: str) -> Node | None:
        """Resolve ``&label``, ``&{/path}`` or a plain path."""
        if ref.startswith("&{") and ref.endswith("}"):
            return self.node(ref[2:-1])
        if ref.startswith("&"):
            return self.labels.get(ref[1:])
        if ref.startswith("/"):
            return self.node(ref)
        return self.labels.get(ref)

    def chosen(self, name: str) -> Node | None:
        chosen = self.node("/chosen")
        if chosen is None:
            return None
        values = chosen.props.get(name)
        if not values:
            return None
        value = values[0]
        if isinstance(value, tuple) and value and isinstance(value[0], str):
            return self.resolve(value[0])
        if isinstance(value, str):
            return self.resolve(value)
        return None

    def partition(self, label: str) -> Partition | None:
        """The fixed partition labelled *label* with its absolute address, if present."""
        node = self.labels.get(label)
        if node is None:
            return None
        regs = node.reg()
        if not regs:
            raise BuildError(f"{self.source}: partition {label} has no reg property")
        offset, size = regs[0]
        flash = node.parent.parent if node.parent is not None else None
        base = 0
        memory_mapped = False
        if flash is not None and any("soc-nv-flash" in c for c in flash.strings("compatible")):
            flash_regs = flash.reg()
            base = flash_regs[0][0] if flash_regs else 0
            memory_mapped = True
        return Partition(
            label=label,
            offset=offset,
            address=base + offset,
            size=size,
            device=flash.path if flash is not None else "",
            memory_mapped=memory_mapped,
            write_block_size=flash.int_prop("write-block-size") if flash is not None else None,
        )


@dataclass(frozen=True)
class Partition:
    """A fixed flash partition: *offset* within its device, *address* where the CPU sees it."""

    label: str
    offset: int
    address: int
    size: int
    device: str
    memory_mapped: bool
    write_block_size: int | None


def _tokenize(text: str, source: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            line = text.count("\n", 0, pos) + 1
            raise BuildError(f"{source}:{line}: cannot parse the devicetree here")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, m.group()))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], source: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.source = source

    def _fail(self, what: str) -> BuildError:
        got = self.tokens[self.pos][1] if self.pos < len(self.tokens) else "end of file"
        return BuildError(f"{self.source}: malformed devicetree: expected {what}, got {got!r}")

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str]:
        tok = self._peek()
        if tok is None or (value is not None and tok[1] != value) or (kind and tok[0] != kind):
            raise self._fail(value or kind or "a token")
        self.pos += 1
        return tok

    def top(self, root: Node) -> None:
        while self._peek() is not None:
            tok = self._peek()
            assert tok is not None
            if tok[0] == "directive":
                self._skip_statement()
            elif tok[1] == "/":
                self.pos += 1
                self._take("{")
                self._body(root)
            elif tok[0] == "ref":
                self.pos += 1
                target = Node(path=tok[1])
                self._take("{")
                self._body(target)
            else:
                raise self._fail("'/ {' or a directive")

    def _skip_statement(self) -> None:
        while True:
            _, value = self._take()
            if value == ";":
                return

    def _body(self, node: Node) -> None:
        while True:
            tok = self._peek()
            if tok is None:
                raise self._fail("'}'")
            if tok[1] == "}":
                self.pos += 1
                self._take(";")
                return
            if tok[0] == "directive":
                self._skip_statement()
                continue
            labels: list[str] = []
            while tok is not None and tok[0] == "label":
                labels.append(tok[1][:-1])
                self.pos += 1
                tok = self._peek()
            name = self._take(kind="word")[1]
            nxt = self._peek()
            if nxt is not None and nxt[1] == "{":
                self.pos += 1
                path = ("" if node.path == "/" else node.path) + "/" + name
                child = Node(path=path, labels=labels, parent=node)
                node.children.append(child)
                self._body(child)
            elif nxt is not None and nxt[1] == ";":
                self.pos += 1
                node.props[name] = []
            elif nxt is not None and nxt[1] == "=":
                self.pos += 1
                node.props[name] = self._values()
            else:
                raise self._fail("'{', '=' or ';'")

    def _values(self) -> list[PropValue]:
        values: list[PropValue] = []
        while True:
            kind, text = self._take()
            if kind == "string":
                values.append(bytes(text[1:-1], "utf-8").decode("unicode_escape"))
            elif kind == "cells":
                values.append(self._cells(text[1:-1]))
            elif kind == "bytes":
                try:
                    values.append(bytes.fromhex(text[1:-1].replace(" ", "")))
                except ValueError:
                    raise BuildError(f"{self.source}: malformed byte string {text!r}") from None
            elif kind == "ref":
                values.append(text)
            else:
                raise self._fail("a property value")
            kind, text = self._take()
            if text == ";":
                return values
            if text != ",":
                raise self._fail("',' or ';'")

    def _cells(self, body: str) -> tuple[CellValue, ...]:
        out: list[CellValue] = []
        for word in body.split():
            if word.startswith("&"):
                out.append(word)
                continue
            try:
                out.append(int(word, 0) & 0xFFFFFFFF)
            except ValueError:
                # Expressions are legal in source DTS; zephyr.dts has them evaluated.
                raise BuildError(f"{self.source}: cannot read cell {word!r}") from None
        return tuple(out)
