"""The real west 1.5 in a temporary workspace whose manifest clones this repository.

The workspace has a stub ``zephyr`` project that, like Zephyr, owns ``west sign``; mcuseal is
cloned from the local repository (``file://``, no network) and provides ``west seal``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mcuseal.cli import main
from mcuseal.image import decrypt_image
from mcuseal.keys import load_device_key

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (REPO / ".git").exists() or shutil.which("git") is None,
    reason="needs a git checkout of mcuseal and git",
)

ZEPHYR_STUB_SIGN = """
from west.commands import WestCommand


class Sign(WestCommand):
    def __init__(self):
        super().__init__("sign", "", "")

    def do_add_parser(self, parser_adder):
        parser = parser_adder.add_parser(self.name)
        parser.add_argument("rest", nargs="*")
        return parser

    def do_run(self, args, unknown):
        print("zephyr-stub-sign")
"""


def _git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


def _revision() -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


@pytest.fixture
def west(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """A west workspace; returns a runner for ``west ARGS`` inside it."""
    top = tmp_path / "ws"
    stub = tmp_path / "zephyr-stub"
    (stub / "scripts").mkdir(parents=True)
    (stub / "scripts" / "sign.py").write_text(ZEPHYR_STUB_SIGN)
    (stub / "scripts" / "west-commands.yml").write_text(
        yaml.safe_dump(
            {
                "west-commands": [
                    {"file": "scripts/sign.py", "commands": [{"name": "sign", "class": "Sign"}]}
                ]
            }
        )
    )
    _git(stub, "init", "-q", "-b", "main")
    _git(stub, "add", ".")
    _git(stub, "commit", "-qm", "stub")
    manifest = top / "manifest"
    manifest.mkdir(parents=True)
    (manifest / "west.yml").write_text(
        yaml.safe_dump(
            {
                "manifest": {
                    "projects": [
                        {
                            "name": "zephyr",
                            "url": stub.as_uri(),
                            "revision": "main",
                            "west-commands": "scripts/west-commands.yml",
                        },
                        {
                            "name": "mcuseal",
                            "url": REPO.as_uri(),
                            "revision": _revision(),
                            "path": "mcuseal",
                            "west-commands": "west-commands.yml",
                        },
                    ],
                    "self": {"path": "manifest"},
                }
            }
        )
    )
    _git(manifest, "init", "-q")
    _git(manifest, "add", ".")
    _git(manifest, "commit", "-qm", "manifest")
    env = {
        **os.environ,
        "WEST_CONFIG_GLOBAL": str(tmp_path / "west-global"),
        "WEST_CONFIG_SYSTEM": str(tmp_path / "west-system"),
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "west", *args],
            cwd=top,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    run("init", "-l", "manifest")
    run("update")
    return run


def _copy(west_top: Path, name: str) -> Path:
    dest = west_top / "builds" / name
    shutil.copytree(west_top / "mcuseal" / "samples" / name / "build", dest)
    return dest


def test_west_seal_then_west_sign_alias(
    west: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    top = tmp_path / "ws"
    keys = top / "mcuseal" / "samples" / "keys"
    build = _copy(top, "b_ncs27_nrf5340_simultaneous")
    net = build / "signed_by_mcuboot_and_b0_ipc_radio.bin"
    net_before = net.read_bytes()
    proc = west("seal", "-d", str(build), "--encrypt", "--allow-dev-keys")
    assert "dfu_application.zip in place" in proc.stdout
    dfu = build / "peripheral_lbs" / "zephyr" / "zephyr.signed.encrypted.bin"
    assert (
        main(
            [
                "verify",
                str(dfu),
                "-k",
                str(keys / "sample-sign-ec-p256.pem"),
                "-E",
                str(keys / "sample-enc-ec256-priv.pem"),
                "--require-encrypted",
                "--strict",
            ]
        )
        == 0
    )
    plain = decrypt_image(dfu.read_bytes(), load_device_key(keys / "sample-enc-ec256-priv.pem"))
    data = (build / "peripheral_lbs" / "zephyr" / "zephyr.bin").read_bytes()
    assert plain.payload[: len(data)] == data
    assert net.read_bytes() == net_before
    manifest = json.loads((build / "dfu_application.zip_manifest.json").read_text())
    app_entry, net_entry = manifest["files"]
    assert manifest["format-version"] == 1 and app_entry["image_index"] == "0"
    assert isinstance(app_entry["load_address"], int) and app_entry["size"] == len(dfu.read_bytes())
    assert net_entry["file"] == "ipc_radio.bin"

    # Zephyr owns "sign": it runs until the alias is installed.
    assert "zephyr-stub-sign" in west("sign", "x").stdout
    assert "alias.sign" in west("seal", "--install-alias").stdout
    assert west("config", "alias.sign").stdout.strip() == "seal"
    build_d = _copy(top, "d_zephyr41_nrf52840")
    proc = west("sign", "-d", str(build_d), "--encrypt", "--allow-dev-keys")
    assert "zephyr.signed.encrypted.bin" in proc.stdout
    assert (build_d / "hello_world" / "zephyr" / "zephyr.signed.encrypted.hex").is_file()


def test_west_seal_refusal_writes_nothing_and_force(
    west: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    from tests.build.conftest import snapshot

    build = _copy(tmp_path / "ws", "a_ncs17_nrf5340_netcore")
    before = snapshot(build)
    proc = west("seal", "-d", str(build), "--encrypt", "--allow-dev-keys", check=False)
    assert proc.returncode == 1
    assert "FATAL ERROR: refused: nRF5340" in proc.stderr and "NCS 1.7.1" in proc.stderr
    assert snapshot(build) == before
    proc = west("seal", "-d", str(build), "--encrypt", "--allow-dev-keys", "--force")
    assert "app_update.encrypted.bin" in proc.stdout
    assert (build / "zephyr" / "net_core_app_update.bin").read_bytes() == before[
        "zephyr/net_core_app_update.bin"
    ][1]


def test_west_commands_yml_passes_wests_schema() -> None:
    import pykwalify.core
    import west.commands

    schema = Path(west.commands.__file__).with_name("west-commands-schema.yml")
    pykwalify.core.Core(
        source_file=str(REPO / "west-commands.yml"), schema_files=[str(schema)]
    ).validate()
    doc = yaml.safe_load((REPO / "west-commands.yml").read_text())
    files = [entry["file"] for entry in doc["west-commands"]]
    assert len(files) == len(set(files)) and (REPO / "west_ext" / "seal.py").is_file()
