"""The README's set-up commands and ``.ci/run`` stay in sync."""

from __future__ import annotations

from tests.docs._blocks import REPO, blocks

CI = REPO / ".ci" / "run"


def _ci_commands() -> list[str]:
    return [
        line.strip()
        for line in CI.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_readme_test_command_is_what_ci_runs_last() -> None:
    last = _ci_commands()[-1]
    assert last == ".venv/bin/python -m pytest -n 2"
    readme_lines = {
        line.strip() for block in blocks(REPO / "README.md") for line in block.text.splitlines()
    }
    assert last in readme_lines
    assert "bash .ci/run" in readme_lines


def test_readme_describes_how_ci_installs() -> None:
    ci = CI.read_text()
    readme = (REPO / "README.md").read_text()
    assert "pip install -q -e '.[dev]'" in ci and "pip install -e '.[dev]'" in readme
    assert "./samples/otfad-plugin" in ci and "OTFAD sample plugin" in readme
