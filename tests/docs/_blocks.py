"""Fenced code blocks of the README and docs/, and the command lines in them.

The convention (docs/contributing.md): a fenced block whose opening fence is directly
preceded by the line ``<!-- runnable -->`` (or ``<!-- runnable: exit N -->``) is run by
``tests/docs/test_runnable.py``; every ``mcuseal`` command line in any fenced block is
parsed by ``tests/docs/test_commands.py``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
_MARKER = re.compile(r"^<!--\s*runnable(?::\s*exit\s+(\d+))?\s*-->\s*$")
_PROMPT = "$ "
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Shell operators that end one simple command; redirections end its arguments.
_SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}
_REDIRECT = re.compile(r"[<>&]*[<>][<>&]*")


@dataclass(frozen=True)
class Block:
    """One fenced code block.

    :param path: the Markdown file.
    :param line: line number of the opening fence (1-based).
    :param lang: the info string's language (``sh``, ``console``, ... or ``""``).
    :param text: the block's content.
    :param runnable: whether a ``<!-- runnable -->`` marker precedes it.
    :param exit_code: the exit code the marker states (0 when none).
    """

    path: Path
    line: int
    lang: str
    text: str
    runnable: bool
    exit_code: int

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def markdown_files() -> list[Path]:
    """The README and every page under docs/."""
    return [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """Every fenced code block in *path*, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence, lang = opening.groups()
        marker = _MARKER.match(lines[i - 1].strip()) if i > 0 else None
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        found.append(
            Block(
                path=path,
                line=i + 1,
                lang=lang,
                text="\n".join(body) + "\n",
                runnable=marker is not None,
                exit_code=int(marker.group(1)) if marker and marker.group(1) else 0,
            )
        )
        i = j + 1
    return found


def _logical_lines(block: Block) -> list[str]:
    """Shell lines of *block* with backslash continuations joined.

    In a ``console`` block only prompt lines (``$ ...``) are commands, plus output lines
    that are themselves ``mcuseal`` commands (tools print the command to run next).
    """
    out: list[str] = []
    pending = ""
    for raw in block.text.splitlines():
        line = raw.rstrip()
        if not pending:
            stripped = line.strip()
            if block.lang == "console":
                if stripped.startswith(_PROMPT):
                    line = stripped[len(_PROMPT) :]
                elif stripped.startswith("mcuseal "):
                    line = stripped
                else:
                    continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def mcuseal_commands(block: Block) -> list[list[str]]:
    """The argument vectors (after ``mcuseal``) of every ``mcuseal`` command in *block*.

    Blocks in languages other than shell ones (python, yaml, Kconfig ...) have none.
    """
    if block.lang not in {"sh", "shell", "bash", "console", ""}:
        return []
    commands: list[list[str]] = []
    for line in _logical_lines(block):
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            tokens = list(lexer)
        except ValueError:
            continue
        current: list[str] = []
        for token in [*tokens, ";"]:
            if token in _SEPARATORS:
                _take(current, commands)
                current = []
            else:
                current.append(token)
    return commands


def _take(tokens: list[str], commands: list[list[str]]) -> None:
    words = list(tokens)
    while words and _ENV_ASSIGNMENT.match(words[0]):
        words.pop(0)
    if not words or Path(words[0]).name != "mcuseal":
        return
    args: list[str] = []
    for word in words[1:]:
        if _REDIRECT.fullmatch(word):
            # Redirections close the docs' command lines; "2>" lexes as "2", ">".
            if args and args[-1].isdigit():
                args.pop()
            break
        args.append(word)
    commands.append(args)
