"""Read a Zephyr / nRF Connect SDK build directory from its files alone.

Three layouts are recognised:

* **sysbuild** (Zephyr >= 3.2, NCS >= 2.4): ``domains.yaml`` and ``zephyr/.config`` holding
  ``SB_CONFIG_*`` at the top, one directory per image (``<app>/``, ``mcuboot/``,
  ``ipc_radio/`` ...).  With ``SB_CONFIG_PARTITION_MANAGER`` present it is an NCS build.
* **NCS v1.x child images**: the application at the top (``zephyr/.config``),
  ``mcuboot/`` and the network-core image as child directories, ``pm.config`` at the top.
* **plain Zephyr**: a single image, ``zephyr/.config`` at the top and no MCUboot image.

Only the ``.config`` files, ``pm.config`` on Partition Manager builds and the input
``.bin`` are required; everything else is optional and falls back to the SDK's own CMake
default, which the plan records as a note.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mcuseal.build.dts import Devicetree
from mcuseal.build.kconfig import DotConfig
from mcuseal.errors import BuildError

# Images sysbuild and NCS add besides the application and the network core.
_NOT_APPLICATION = frozenset({"mcuboot", "b0", "b0n", "s1_image", "mcuboot_secondary_app"})


class Flavour(str, enum.Enum):
    """The SDK flavour whose signing rules a build follows."""

    NCS_SYSBUILD = "ncs-sysbuild"
    ZEPHYR_SYSBUILD = "zephyr-sysbuild"
    NCS_CHILD_IMAGE = "ncs-child-image"
    ZEPHYR = "zephyr"

    @property
    def is_ncs(self) -> bool:
        return self in (Flavour.NCS_SYSBUILD, Flavour.NCS_CHILD_IMAGE)

    @property
    def is_sysbuild(self) -> bool:
        return self in (Flavour.NCS_SYSBUILD, Flavour.ZEPHYR_SYSBUILD)


@dataclass(frozen=True)
class ImageBuild:
    """One image's build directory (the one holding ``zephyr/.config``)."""

    name: str
    path: Path
    config: DotConfig
    dts: Devicetree | None = field(default=None, compare=False, repr=False)

    @property
    def zephyr_dir(self) -> Path:
        return self.path / "zephyr"

    @property
    def kernel_name(self) -> str:
        return self.config.string("CONFIG_KERNEL_BIN_NAME") or "zephyr"

    @property
    def is_nrf5340_netcore(self) -> bool:
        return any(
            k.startswith("CONFIG_SOC_NRF5340_CPUNET") and v is True
            for k, v in self.config.values.items()
        )


@dataclass(frozen=True)
class SdkVersion:
    """The Zephyr and NCS versions a build recorded in its generated headers."""

    zephyr: tuple[int, int, int] | None = None
    ncs: tuple[int, int, int] | None = None
    source: str = ""

    def __str__(self) -> str:
        parts = []
        if self.ncs is not None:
            parts.append("NCS " + ".".join(map(str, self.ncs)))
        if self.zephyr is not None:
            parts.append("Zephyr " + ".".join(map(str, self.zephyr)))
        return ", ".join(parts) or "unknown"


@dataclass(frozen=True)
class BuildInfo:
    """Everything mcuseal read from a build directory (no derived geometry yet)."""

    build_dir: Path
    flavour: Flavour
    app: ImageBuild
    sysbuild_config: DotConfig | None = None
    mcuboot: ImageBuild | None = None
    netcore: ImageBuild | None = None
    pm: DotConfig | None = None
    pm_cpunet: DotConfig | None = None
    version: SdkVersion = SdkVersion()
    cmake_cache: dict[str, str] = field(default_factory=dict, compare=False)
    mcuboot_cmake_cache: dict[str, str] = field(default_factory=dict, compare=False)
    notes: tuple[str, ...] = ()


def read_build(build_dir: str | Path) -> BuildInfo:
    """Read the build directory *build_dir*; raise :class:`BuildError` if it is not one."""
    root = Path(build_dir)
    if not root.is_dir():
        raise BuildError(
            f"build directory {root} does not exist; pass the directory west build wrote"
        )
    top_config = root / "zephyr" / ".config"
    if not top_config.is_file():
        raise BuildError(
            f"{root} is not a Zephyr build directory (no zephyr/.config); point -d at the "
            "directory 'west build' wrote (default: build)"
        )
    top = DotConfig.load_file(top_config)
    if (root / "domains.yaml").is_file() or any(k.startswith("SB_CONFIG_") for k in top.values):
        return _read_sysbuild(root, top)
    parent = root.resolve().parent
    if (parent / "domains.yaml").is_file() and (parent / "zephyr" / ".config").is_file():
        # One image of a sysbuild build (where Zephyr's old 'west sign' wanted -d): its
        # signing rules, keys and MCUboot are only known from the sysbuild directory.
        build = read_build(parent)
        note = f"{root} is one image of the sysbuild build {parent}; sealed that build"
        return dataclasses.replace(build, notes=(note, *build.notes))
    if (root / "mcuboot" / "zephyr" / ".config").is_file() or (root / "pm.config").is_file():
        return _read_child_image(root, top)
    return _read_zephyr(root, top)


def _image(name: str, path: Path) -> ImageBuild:
    config = DotConfig.load_file(path / "zephyr" / ".config")
    dts_path = path / "zephyr" / "zephyr.dts"
    # Only the application's devicetree feeds the plan (its absence is noted there).
    dts = Devicetree.load_file(dts_path) if dts_path.is_file() else None
    return ImageBuild(name=name, path=path, config=config, dts=dts)


def _read_sysbuild(root: Path, sb: DotConfig) -> BuildInfo:
    notes: list[str] = []
    if not any(k.startswith("SB_CONFIG_") for k in sb.values):
        raise BuildError(
            f"{root}/zephyr/.config holds no SB_CONFIG_* options although domains.yaml is "
            "present; the build is incomplete, rebuild it with west build -p"
        )
    default, domains = _read_domains(root)
    if not domains:
        domains = [(name, root / name) for name in _image_dirs(root)]
    images: dict[str, ImageBuild] = {}
    for name, path in domains:
        if not (path / "zephyr" / ".config").is_file():
            if name in (default, "mcuboot"):
                raise BuildError(
                    f"image {name!r} listed in {root}/domains.yaml has no zephyr/.config; "
                    "the build is incomplete, rebuild it"
                )
            else:
                # An image mcuseal neither signs nor checks need not be there.
                notes.append(f"image {name!r} in domains.yaml has no zephyr/.config; ignored")
                continue
        images[name] = _image(name, path)
    app_name = default or _guess_app(root, images)
    if app_name not in images:
        raise BuildError(f"{root}/domains.yaml names default image {app_name!r} that was not built")
    mcuboot = images.get("mcuboot")
    netcore = _pick_netcore(root, sb, images)
    flavour = (
        Flavour.NCS_SYSBUILD if "SB_CONFIG_PARTITION_MANAGER" in sb else Flavour.ZEPHYR_SYSBUILD
    )
    pm = pm_cpunet = None
    if sb.is_set("SB_CONFIG_PARTITION_MANAGER"):
        pm = DotConfig.load_file(root / "pm.config", pm=True)
        pm_cpunet = _optional_pm_cpunet(root)
    app = images[app_name]
    return BuildInfo(
        build_dir=root,
        flavour=flavour,
        app=app,
        sysbuild_config=sb,
        mcuboot=mcuboot,
        netcore=netcore,
        pm=pm,
        pm_cpunet=pm_cpunet,
        version=_read_version(app.zephyr_dir),
        cmake_cache=_read_cmake_cache(app.path / "CMakeCache.txt"),
        mcuboot_cmake_cache=_read_cmake_cache(mcuboot.path / "CMakeCache.txt") if mcuboot else {},
        notes=tuple(notes),
    )


def _pick_netcore(root: Path, sb: DotConfig, images: dict[str, ImageBuild]) -> ImageBuild | None:
    """The network-core image NCS signs: SB_CONFIG_NETCORE_IMAGE_NAME, else the one with a
    ``signed_by_mcuboot_and_b0_<name>.bin``, else the only (first) nRF5340 net-core image."""
    candidates = [
        img for n, img in images.items() if n not in _NOT_APPLICATION and img.is_nrf5340_netcore
    ]
    named = sb.string("SB_CONFIG_NETCORE_IMAGE_NAME")
    signed = [c for c in candidates if (root / f"signed_by_mcuboot_and_b0_{c.name}.bin").is_file()]
    by_name = [c for c in candidates if c.name == named]
    return next(iter(by_name or signed or candidates), None)


def _read_child_image(root: Path, app_config: DotConfig) -> BuildInfo:
    notes: list[str] = []
    mcuboot_dir = root / "mcuboot"
    if not (mcuboot_dir / "zephyr" / ".config").is_file():
        raise BuildError(
            f"{root} has pm.config but no mcuboot/zephyr/.config; an NCS child-image build "
            "always builds MCUboot there; rebuild with CONFIG_BOOTLOADER_MCUBOOT=y"
        )
    if not (root / "pm.config").is_file():
        raise BuildError(
            f"{root}/pm.config is missing; NCS child-image builds take slot sizes from the "
            "Partition Manager, rebuild the project"
        )
    app = ImageBuild(name="app", path=root, config=app_config, dts=_optional_dts(root))
    mcuboot = _image("mcuboot", mcuboot_dir)
    netcore = None
    for name in _image_dirs(root):
        if name in _NOT_APPLICATION:
            continue
        candidate = _image(name, root / name)
        if candidate.is_nrf5340_netcore:
            netcore = candidate
            break
    return BuildInfo(
        build_dir=root,
        flavour=Flavour.NCS_CHILD_IMAGE,
        app=app,
        mcuboot=mcuboot,
        netcore=netcore,
        pm=DotConfig.load_file(root / "pm.config", pm=True),
        pm_cpunet=_optional_pm_cpunet(root),
        version=_read_version(root / "zephyr"),
        cmake_cache=_read_cmake_cache(root / "CMakeCache.txt"),
        mcuboot_cmake_cache=_read_cmake_cache(mcuboot_dir / "CMakeCache.txt"),
        notes=tuple(notes),
    )


def _read_zephyr(root: Path, config: DotConfig) -> BuildInfo:
    notes: list[str] = []
    if not config.is_set("CONFIG_BOOTLOADER_MCUBOOT"):
        raise BuildError(
            f"{root} was not built for MCUboot (CONFIG_BOOTLOADER_MCUBOOT is not set); "
            "set CONFIG_BOOTLOADER_MCUBOOT=y (or build with --sysbuild -- "
            "-DSB_CONFIG_BOOTLOADER_MCUBOOT=y) and rebuild"
        )
    app = ImageBuild(name="app", path=root, config=config, dts=_optional_dts(root))
    notes.append(
        "single-image build: MCUboot is not in this build directory, so its configuration "
        "cannot be checked"
    )
    return BuildInfo(
        build_dir=root,
        flavour=Flavour.ZEPHYR,
        app=app,
        version=_read_version(root / "zephyr"),
        cmake_cache=_read_cmake_cache(root / "CMakeCache.txt"),
        notes=tuple(notes),
    )


def _optional_dts(root: Path) -> Devicetree | None:
    path = root / "zephyr" / "zephyr.dts"
    return Devicetree.load_file(path) if path.is_file() else None


def _optional_pm_cpunet(root: Path) -> DotConfig | None:
    path = root / "pm_CPUNET.config"
    return DotConfig.load_file(path, pm=True) if path.is_file() else None


def _image_dirs(root: Path) -> list[str]:
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and (p / "zephyr" / ".config").is_file()
    )


def _guess_app(root: Path, images: dict[str, ImageBuild]) -> str:
    apps = [
        n
        for n, img in images.items()
        if n not in _NOT_APPLICATION
        and not img.is_nrf5340_netcore
        and img.config.is_set("CONFIG_BOOTLOADER_MCUBOOT")
    ]
    if len(apps) != 1:
        raise BuildError(
            f"{root}: cannot tell the application image without domains.yaml "
            f"(candidates: {', '.join(apps) or 'none'}); rebuild so sysbuild writes it"
        )
    return apps[0]


def _read_domains(root: Path) -> tuple[str | None, list[tuple[str, Path]]]:
    """domains.yaml's default image and (name, build directory) pairs; none without it."""
    path = root / "domains.yaml"
    if not path.is_file():
        return None, []
    doc = _load_yaml(path)
    domains = doc.get("domains")
    if not isinstance(domains, list) or not domains:
        raise BuildError(f"{path} has no 'domains' list; the file is corrupt, rebuild")
    out: list[tuple[str, Path]] = []
    for entry in domains:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise BuildError(f"{path}: every domain needs a 'name'; the file is corrupt")
        name = entry["name"]
        recorded = entry.get("build_dir")
        # domains.yaml records absolute paths; a moved or copied build keeps its layout.
        candidate = Path(recorded) if isinstance(recorded, str) else root / name
        if not candidate.is_absolute():
            candidate = root / candidate
        if not (candidate / "zephyr" / ".config").is_file():
            candidate = root / name
        out.append((name, candidate))
    default = doc.get("default")
    return (default if isinstance(default, str) else None), out


def _load_yaml(path: Path) -> dict[str, object]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise BuildError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise BuildError(f"{path} is not a YAML mapping; the file is corrupt, rebuild")
    return doc


_DEFINE = re.compile(r'^#define\s+(\w+)\s+"?([^"\s]*)"?', re.MULTILINE)


def _read_version(zephyr_dir: Path) -> SdkVersion:
    generated = zephyr_dir / "include" / "generated"
    zephyr = ncs = None
    sources = []
    for candidate in (generated / "zephyr" / "version.h", generated / "version.h"):
        defines = _defines(candidate)
        if "KERNEL_VERSION_STRING" in defines:
            zephyr = _triple(defines["KERNEL_VERSION_STRING"])
            sources.append(str(candidate))
            break
    defines = _defines(generated / "ncs_version.h")
    if "NCS_VERSION_STRING" in defines:
        ncs = _triple(defines["NCS_VERSION_STRING"])
        sources.append(str(generated / "ncs_version.h"))
    return SdkVersion(zephyr=zephyr, ncs=ncs, source=", ".join(sources))


def _defines(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return {m.group(1): m.group(2) for m in _DEFINE.finditer(text)}


def _triple(text: str) -> tuple[int, int, int] | None:
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def _read_cmake_cache(path: Path) -> dict[str, str]:
    """``NAME:TYPE=VALUE`` entries of a CMakeCache.txt (optional file: missing gives {})."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith(("#", "//")):
            continue
        m = re.match(r"^([^:=]+)(?::[A-Z]+)?=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out
