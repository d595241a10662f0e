"""Differential testing against SPSDK 3.12: random nxpimage configurations, both tools.

A seeded generator writes a configuration (YAML or JSON) with its input files; SPSDK's
``nxpimage`` runs in-process (its click group under ``CliRunner``: the same schema check,
loading and export as the command line, without a slow start-up per case) and mcuseal
runs through ``mcuseal.cli.main``.  Both see the same pinned random stream, so even the
engine keys nxpimage generates compare byte for byte.

The relation checked: nxpimage writes files -> mcuseal writes the same names and bytes;
nxpimage refuses -> mcuseal refuses with a one-line error, exit 2, and writes nothing.
A few refusals are mcuseal's own choice (documented); the case says so.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mcuseal.cli import main
from mcuseal.plugins import _rng
from mcuseal.plugins.bee import FAC_SLOTS, FacRegion, Kib, Prdb, rom_header
from tests.plugins.spsdk_oracle import tree


class Raw(str):
    """A YAML token written verbatim (an int literal such as ``0x1234``, a bad value)."""


@dataclass
class Case:
    """One generated configuration with its input files (paths relative to the root)."""

    engine: str
    config: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    config_name: str = "cfg.yaml"
    args: tuple[str, ...] = ()
    #: Set when mcuseal deliberately refuses: the expected text in its one-line error.
    ours_refuses: str = ""
    #: Replaces the rendered configuration text (syntax errors, non-mappings).
    text: str | None = None
    json: bool = False
    label: str = ""

    def write(self, root: Path) -> None:
        for name, data in self.files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        cfg = root / self.config_name
        cfg.parent.mkdir(parents=True, exist_ok=True)
        if self.text is not None:
            cfg.write_text(self.text)
        elif self.json:
            cfg.write_text(json.dumps(self.config, indent=2, default=str))
        else:
            cfg.write_text(dump_yaml(self.config))


def dump_yaml(value: Any, indent: int = 0) -> str:
    """A small YAML emitter that keeps :class:`Raw` tokens and quotes other strings."""
    pad = " " * indent
    if isinstance(value, dict):
        out = ""
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out += f"{pad}{key}:\n{dump_yaml(item, indent + 2)}"
            else:
                out += f"{pad}{key}: {_scalar(item)}\n"
        return out
    if isinstance(value, list):
        out = ""
        for item in value:
            body = dump_yaml(item, indent + 2) if isinstance(item, (dict, list)) else ""
            if body:
                out += f"{pad}- {body.lstrip()}"
            else:
                out += f"{pad}- {_scalar(item)}\n"
        return out
    return pad + _scalar(value) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value == [] or value == {}:
        return json.dumps(value)
    return json.dumps(str(value))


# --- running both tools ----------------------------------------------------------------


def pinned_stream(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return lambda n: rng.randbytes(n)


@dataclass
class Outcome:
    ok: bool
    files: dict[str, bytes]
    message: str


@contextmanager
def _cwd(monkeypatch: pytest.MonkeyPatch, path: Path) -> Iterator[None]:
    with monkeypatch.context() as m:
        m.chdir(path)
        yield


def run_nxpimage(case: Case, root: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> Outcome:
    from click.testing import CliRunner
    from spsdk.apps import nxpimage
    from spsdk.apps.utils import spsdk_logger

    before = tree(root)
    with _cwd(monkeypatch, root), monkeypatch.context() as m:
        stream = pinned_stream(seed)
        m.setattr("spsdk.image.bee.random_bytes", stream)
        m.setattr("spsdk.utils.misc.random_bytes", stream)  # padding of unaligned data
        # Debug records from the per-KiB encryption loop cost more than the encryption.
        m.setattr(logging.getLogger("spsdk"), "level", logging.WARNING)
        # nxpimage installs its log handler on the stderr of import time (closed by now):
        # give it this run's stderr, and drop the handler with this run.
        m.setattr(logging.getLogger("spsdk"), "handlers", [])
        install = spsdk_logger.install
        m.setattr(spsdk_logger, "install", lambda level=None: install(level, stream=sys.stderr))
        result = CliRunner().invoke(
            nxpimage.main, [case.engine, "export", "-c", case.config_name, *case.args]
        )
    after = tree(root)
    message = result.output + (
        f"{result.exception!r}: {result.exception}" if result.exception else ""
    )
    new = {k: v for k, v in after.items() if k not in before}
    return Outcome(result.exit_code == 0, new, message)


def run_mcuseal(
    case: Case,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    seed: int,
) -> tuple[int, dict[str, bytes], str]:
    before = tree(root)
    capsys.readouterr()
    with _cwd(monkeypatch, root), monkeypatch.context() as m:
        m.setattr(_rng, "random_bytes", pinned_stream(seed))
        code = main(["xip", case.engine, "export", "-c", case.config_name, *case.args])
    err = capsys.readouterr().err
    after = tree(root)
    return code, {k: v for k, v in after.items() if k not in before}, err


def check_case(
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    seed: int,
) -> None:
    """Run *case* through both tools and assert the relation in the module docstring."""
    # Same-length folder names: readme.txt embeds absolute paths in fixed-width boxes.
    theirs_dir, ours_dir = tmp_path / "nxpi", tmp_path / "ours"
    case.write(theirs_dir)
    case.write(ours_dir)
    theirs = run_nxpimage(case, theirs_dir, monkeypatch, seed)
    code, ours, err = run_mcuseal(case, ours_dir, monkeypatch, capsys, seed)
    context = f"{case.label}\n--- config ---\n{(theirs_dir / case.config_name).read_text()}"
    if case.ours_refuses and theirs.ok and code != 0:
        # Refused on purpose (or the spoiled value was never read: then compare below).
        assert code == 2, context + err
        assert case.ours_refuses in err, err
        assert err.count("\n") == 1 and not ours, err
        return
    if not theirs.ok:
        assert code == 2, f"nxpimage refused ({theirs.message}) but mcuseal: {code}\n{context}"
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert not ours, f"mcuseal wrote {sorted(ours)} on a refused configuration"
        return
    assert code == 0, f"nxpimage accepted, mcuseal: {err}\n{context}"
    mine, other = str(ours_dir).encode(), str(theirs_dir).encode()
    ours = {k: v.replace(mine, other) for k, v in ours.items()}
    assert sorted(ours) == sorted(theirs.files), context
    for name, data in theirs.files.items():
        assert ours[name] == data, f"{name} differs\n{context}"


# --- value forms -----------------------------------------------------------------------


def key_value(rng: random.Random, case: Case, key: bytes, stem: str) -> Any:
    """*key* in one of the forms nxpimage's ``file-or-hex-value`` takes (and some it does not)."""
    forms = ["0x", "bare", "upper", "bin-file", "hex-file", "int"]
    form = rng.choices(forms, weights=[30, 20, 10, 20, 20, 4])[0]
    if form == "0x":
        return "0x" + key.hex()
    if form == "bare":
        return key.hex()
    if form == "upper":
        return "0X" + key.hex().upper()
    if form == "int":
        return Raw("0x" + key.hex())
    name = f"{rng.choice(['', 'keys/'])}{stem}{rng.choice(['.bin', '.key', '.txt'])}"
    if form == "bin-file":
        case.files[name] = key
    else:
        case.files[name] = (rng.choice(["", "0x"]) + key.hex() + rng.choice(["", "\n"])).encode()
    return name


def odd(rng: random.Random) -> bool:
    """True now and then: a value nxpimage may refuse, among mostly valid ones."""
    return rng.random() < 0.08


def number(rng: random.Random, value: int) -> Any:
    return rng.choice([value, hex(value), Raw(hex(value)), str(value)])


def data_bytes(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


# --- BEE ---------------------------------------------------------------------------------


def oracle_families(engine: str) -> list[str]:
    """Every family name nxpimage's schema takes for *engine* (full names and aliases)."""
    from spsdk.image.bee import Bee
    from spsdk.image.otfad.otfad import Otfad
    from spsdk.utils.family import update_validation_schema_family

    klass = Bee if engine == "bee" else Otfad
    families = klass.get_supported_families()
    schema: dict[str, Any] = {"family": {}, "revision": {}}
    update_validation_schema_family(schema, families, families[0])
    return list(schema["family"]["enum"])


def _regions(rng: random.Random, base: int, count: int) -> list[tuple[int, int, int]]:
    out = []
    addr = base
    for _ in range(count):
        # Off-grid starts or lengths now and then: nxpimage refuses only both off the grid.
        addr += rng.choice([0, 0x400, 0x1000]) + (rng.choice([0x10, 0x200]) if odd(rng) else 0)
        length = rng.choice([0x400, 0x800, 0x1000, 0x2000]) + (0x10 if odd(rng) else 0)
        out.append((addr, length, rng.randrange(4)))
        addr += length
    return out


def bee_case(rng: random.Random, index: int) -> Case:
    case = Case("bee", {}, label=f"bee #{index}")
    cfg: dict[str, Any] = {"family": rng.choice(families("bee"))}
    if rng.random() < 0.15:
        cfg["revision"] = "latest"
    folder = rng.choice(["out", "bee_output", "../build", "a/b", "."])
    if folder == "../build":
        case.config_name = "cfg/bee.yaml"
    cfg["output_folder"] = folder
    if rng.random() < 0.4:
        cfg["output_name"] = rng.choice(["image_enc", "enc.bin", "sub/enc", "x.out"])
    if rng.random() < 0.3:
        cfg["header_name"] = rng.choice(["hdr", "hdr_", "sub/hdr", "h.bin"])
    if odd(rng):
        cfg[rng.choice(["output_name", "header_name"])] = ""
    selection = rng.choice(["engine0", "engine1", "both"])
    base = 0x6000_0000 + rng.randrange(0x100) * 0x1000
    engines = []
    all_regions: list[tuple[int, int, int]] = []
    count = {"engine0": 1, "engine1": rng.choice([1, 2]), "both": 2}[selection]
    cursor = base
    for e in range(count):
        if e and rng.random() < 0.15:
            cursor -= rng.choice([0x400, 0x800])  # overlap the other engine's last region
        if rng.random() < 0.25:
            regions = _regions(rng, cursor, rng.randint(1, 3))
            cursor = regions[-1][0] + regions[-1][1]
            all_regions += regions
            engines.append(_binary_engine(rng, case, e, regions))
            continue
        regions = _regions(rng, cursor, rng.randint(1, 3))
        cursor = regions[-1][0] + regions[-1][1]
        all_regions += regions
        bee: dict[str, Any] = {
            "user_key": key_value(rng, case, rng.randbytes(16), f"user{e}"),
        }
        for name, size in (("engine_key", 16), ("engine_iv", 16), ("engine_counter", 12)):
            if rng.random() < 0.75:
                bee[name] = key_value(rng, case, rng.randbytes(size), f"{name}{e}")
        bee["protected_region"] = [
            {
                "start_address": number(rng, start),
                "length": number(rng, length),
                "protected_level": level,
            }
            for start, length, level in regions
        ]
        engines.append({"bee_cfg": bee})
    if rng.random() < 0.1:
        cfg["engine_key_selection"] = rng.choice(["random", "zero"])
    cfg["engine_selection"] = selection
    cfg["bee_engine"] = engines
    if rng.random() < 0.85:
        blobs = []
        at = base + rng.choice([0, 0x400, 0x800])
        for b in range(rng.randint(1, 3)):
            size = 16 * rng.randint(1, 0x300)
            if rng.random() < 0.1:
                size = rng.choice([0, size + rng.randint(1, 15)])  # empty, or padded by nxpimage
            name = rng.choice(["", "in/", "data/"]) + f"blob{b}.bin"
            case.files[name] = data_bytes(rng, size)
            ref = ("../" + name) if case.config_name.startswith("cfg/") else name
            blobs.append({"data": ref, "address": number(rng, at)})
            at += size + rng.choice([0, 0x10, 0x400])
        cfg["data_blobs"] = blobs
    case.config = cfg
    case.json = rng.random() < 0.1
    return case


def _binary_engine(
    rng: random.Random, case: Case, e: int, regions: list[tuple[int, int, int]]
) -> dict[str, Any]:
    user_key = rng.randbytes(16)
    facs: list[FacRegion | None] = [FacRegion(s, s + n, lvl) for s, n, lvl in regions]
    facs += [None] * (FAC_SLOTS - len(facs))
    prdb = Prdb(tuple(facs), rng.randbytes(12))
    header = rom_header(user_key, Kib(rng.randbytes(16), rng.randbytes(16)), prdb)
    name = f"hdr/ehdr{e}.bin"
    case.files[name] = header
    ref = ("../" + name) if case.config_name.startswith("cfg/") else name
    return {
        "bee_binary_cfg": {
            "header_path": ref,
            "user_key": key_value(rng, case, user_key, f"bin_user{e}"),
        }
    }


# --- OTFAD -------------------------------------------------------------------------------

NO_FUSE_SCRIPT = ("rt5xx", "rt6xx", "mimxrt533s", "mimxrt555s", "mimxrt595s", "mimxrt685s")
_FAMILIES: dict[str, list[str]] = {}


def families(engine: str) -> list[str]:
    if engine not in _FAMILIES:
        _FAMILIES[engine] = oracle_families(engine)
    return _FAMILIES[engine]


def otfad_case(rng: random.Random, index: int) -> Case:
    case = Case("otfad", {}, label=f"otfad #{index}")
    # A configuration in a sub-folder: inputs found beside it ("../x") or in the cwd ("x").
    up = ""
    if rng.random() < 0.2:
        case.config_name = "cfg/otfad.yaml"
        up = rng.choice(["", "../"])
    family = rng.choice(families("otfad"))
    cfg: dict[str, Any] = {"family": family}
    if rng.random() < 0.15:
        cfg["revision"] = "latest"
    cfg["output_folder"] = rng.choice(["otfad_out", "out", "a/b"])
    if rng.random() < 0.3:
        cfg["output_name"] = rng.choice(["whole", "w.bin", "sub/whole", ""])
    if rng.random() < 0.3:
        cfg["keyblob_name"] = rng.choice(["table", "t.bin", "sub/table", ""])
    if rng.random() < 0.3:
        cfg["encrypted_name"] = rng.choice(["enc", "e.bin", "sub/enc", ""])
    if rng.random() < 0.2:
        cfg["generate_readme"] = rng.choice([True, False])
    cfg["kek"] = key_value(rng, case, rng.randbytes(16), "kek")
    table = rng.choice([0x0800_0000, 0x3000_0000, 0x6000_0000, 0x2800_0000])
    cfg["otfad_table_address"] = number(rng, table)
    blobs = []
    cursor = table + 0x1000
    regions = []
    for _ in range(rng.randint(1, 4)):
        start = cursor + rng.choice([0, 0x400, 0x1000, -0x400]) + (0x10 if odd(rng) else 0)
        size = rng.choice([0x400, 0x1000, 0x4000, 0x800]) + (0x10 if odd(rng) else 0)
        end = start + size - (rng.choice([0, 0x10]) if odd(rng) else 1)
        cursor = start + size + -(start + size) % 0x400
        regions.append((start, size))
        blob: dict[str, Any] = {
            "aes_key": rng.choice(
                [
                    "0x" + rng.randbytes(16).hex(),
                    Raw("0x" + rng.randbytes(16).hex()),
                    Raw(str(int.from_bytes(rng.randbytes(16), "big"))),
                ]
            ),
            "aes_ctr": rng.choice(
                ["0x" + rng.randbytes(8).hex(), Raw("0x" + rng.randbytes(8).hex())]
            ),
            "start_address": number(rng, start),
            "end_address": number(rng, end),
        }
        for flag in ("aes_decryption_enable", "valid", "read_only"):
            if rng.random() < 0.2:
                blob[flag] = rng.random() < 0.7
        blobs.append(blob)
    cfg["key_blobs"] = blobs
    if rng.random() < 0.4:
        cfg["key_scramble"] = {
            "key_scramble_mask": number(rng, rng.getrandbits(32)),
            "key_scramble_align": number(rng, rng.getrandbits(8)),
        }
    if rng.random() < 0.85:
        data = []
        for b, (start, size) in enumerate(rng.sample(regions, rng.randint(1, len(regions)))):
            length = 16 * rng.randint(1, size // 16 + rng.choice([0, 0, 0, 64]))
            length += rng.choice([0] * 8 + [1, 7])  # nxpimage pads to 16 with zeros
            name = rng.choice(["", "in/"]) + f"data{b}.bin"
            case.files[name] = b"\x00" + data_bytes(rng, length - 1)
            at = start + (rng.choice([0x10, 0x400, -0x2000, 0x8]) if odd(rng) else 0)
            data.append({"data": up + name, "address": number(rng, at)})
        cfg["data_blobs"] = data
    if rng.random() < 0.25:
        case.args += ("-a", rng.choice(["0x400", "256", "1024", "16", "1", "0", "3"]))
    if rng.random() < 0.1:
        case.args += ("-i", "1")
        if family not in NO_FUSE_SCRIPT:
            case.ours_refuses = "blhost fuse script"
    if rng.random() < 0.08:
        cfg["output_format"] = rng.choice(["hex", "srec"])
        case.ours_refuses = "binary files only"
    case.config = cfg
    case.json = rng.random() < 0.1
    return case


# --- invalid configurations ----------------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _parent(cfg: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        cfg = cfg[part]
    return cfg


KEY_NAMES = ("user_key", "engine_key", "engine_iv", "engine_counter", "kek", "aes_key", "aes_ctr")


def break_case(rng: random.Random, case: Case) -> Case:
    """Spoil a valid *case* in one way a user could."""
    keys = [p for p in _paths(case.config) if isinstance(p[-1], str)]
    how = rng.choice(
        [
            *("drop", "bad-hex", "short", "long", "family", "missing-file", "yaml", "list"),
            *("type", "revision", "quoted", "empty-key", "empty-list", "null"),
        ]
    )
    case.label += f" broken: {how}"
    if how == "yaml":
        case.text = dump_yaml(case.config) + "bad: [unclosed\n  - : :\n"
    elif how == "list":
        case.text = "- family: rt106x\n- output_folder: out\n"
    elif how == "family":
        case.config["family"] = rng.choice(
            ["mimxrt1170", "lpc55s69", "rt999", "", str(case.config["family"]).upper()]
        )
    elif how == "revision":
        case.config["revision"] = rng.choice(["a0", "a1", "b0", "B0", "zz", "LATEST"])
    elif how == "quoted":
        # Numbers and flags written as strings.
        typed = [p for p in keys if isinstance(_parent(case.config, p)[p[-1]], (bool, int))]
        if typed:
            path = rng.choice(typed)
            parent = _parent(case.config, path)
            parent[path[-1]] = str(parent[path[-1]]).lower()
    elif how == "empty-list":
        lists = [p for p in keys if isinstance(_parent(case.config, p)[p[-1]], list)]
        if lists:
            path = rng.choice(lists)
            _parent(case.config, path)[path[-1]] = []
    elif how == "null":
        path = rng.choice(keys)
        _parent(case.config, path)[path[-1]] = Raw("null")
    elif how == "empty-key":
        names = [p for p in keys if p[-1] in KEY_NAMES]
        if names:
            path = rng.choice(names)
            _parent(case.config, path)[path[-1]] = ""
            case.ours_refuses = "is empty"
    elif how == "missing-file":
        names = [p for p in keys if p[-1] in ("data", "header_path", "kek", "user_key")]
        if names:
            path = rng.choice(names)
            _parent(case.config, path)[path[-1]] = "nowhere/missing.bin"
    else:
        path = rng.choice(keys)
        parent = _parent(case.config, path)
        if how == "drop":
            del parent[path[-1]]
        elif how == "bad-hex":
            parent[path[-1]] = "0x12zz34"
        elif how == "type":
            parent[path[-1]] = rng.choice([[1, 2], {"a": 1}, True])
        else:
            hex_keys = [
                p
                for p in keys
                if p[-1] in KEY_NAMES
                and isinstance(_parent(case.config, p)[p[-1]], str)
                and str(_parent(case.config, p)[p[-1]]).startswith("0x")
            ]
            if hex_keys:
                path = rng.choice(hex_keys)
                parent = _parent(case.config, path)
                text = str(parent[path[-1]])
                parent[path[-1]] = text[:-2] if how == "short" else text + "ab"
    return case


def cases(engine: str, seed: int, count: int) -> list[tuple[int, Case]]:
    rng = random.Random(seed)
    make = bee_case if engine == "bee" else otfad_case
    out = []
    for i in range(count):
        case = make(rng, i)
        if rng.random() < 0.3:
            case = break_case(rng, case)
        out.append((seed * 1000 + i, case))
    return out


def reset(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
