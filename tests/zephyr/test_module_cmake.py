"""The Zephyr module's CMake, configured in a small project that stubs what Zephyr provides.

No Zephyr tree is available here, so each test builds a CMake project that defines the
pieces the module touches (``zephyr_property_target``, the default signing script, NCS's
signing targets, sysbuild's ``set_config_*``) and asserts the command the module generates.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "zephyr"

pytestmark = pytest.mark.skipif(
    shutil.which("cmake") is None, reason="needs cmake (.ci/run installs it)"
)

HEADER = """cmake_minimum_required(VERSION 3.20)
project(stub NONE)
set(MCUSEAL_EXECUTABLE /opt/bin/mcuseal)
set(WEST_TOPDIR /ws)
set(ZEPHYR_BASE ${CMAKE_CURRENT_SOURCE_DIR}/zephyr_base)
add_custom_target(zephyr_property_target)
"""

ZEPHYR_INCLUDES_SIGNING_SCRIPT = """
# What zephyr/CMakeLists.txt does after the modules: include the one signing script.
get_target_property(signing_script zephyr_property_target SIGNING_SCRIPT)
include(${signing_script})
get_property(cmds GLOBAL PROPERTY extra_post_build_commands)
file(WRITE ${CMAKE_BINARY_DIR}/post_build.txt "${cmds}")
"""


def configure(tmp_path: Path, body: str) -> Path:
    src = tmp_path / "src"
    (src / "zephyr_base" / "cmake").mkdir(parents=True)
    (src / "zephyr_base" / "cmake" / "mcuboot.cmake").write_text(
        "set_property(GLOBAL APPEND PROPERTY extra_post_build_commands COMMAND imgtool-stub sign)\n"
    )
    (src / "CMakeLists.txt").write_text(HEADER + body.replace("@MODULE@", str(MODULE)))
    build = tmp_path / "build"
    proc = subprocess.run(
        ["cmake", "-S", str(src), "-B", str(build), "-G", "Unix Makefiles"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return build


def post_build(build: Path) -> list[list[str]]:
    """extra_post_build_commands split into its COMMANDs."""
    items = (build / "post_build.txt").read_text().split(";")
    commands: list[list[str]] = []
    for item in items:
        if item == "COMMAND":
            commands.append([])
        else:
            commands[-1].append(item)
    return commands


def target_command(build: Path, target: str) -> str:
    make = (build / "CMakeFiles" / f"{target}.dir" / "build.make").read_text()
    lines = [line.strip() for line in make.splitlines() if "/opt/bin/mcuseal" in line]
    assert lines, make
    return lines[0]


def target_depends(build: Path, target: str) -> set[str]:
    """Targets *target* depends on, from the generated Makefile2 dependency graph."""
    graph = (build / "CMakeFiles" / "Makefile2").read_text()
    deps: set[str] = set()
    pattern = rf"^(?:\S+/)?CMakeFiles/{target}\.dir/all: (.+)$"
    for line in re.findall(pattern, graph, re.MULTILINE):
        deps.update(Path(d).parent.name.removesuffix(".dir") for d in line.split())
    return deps


def test_plain_zephyr_wraps_the_default_signing_script(tmp_path: Path) -> None:
    build = configure(
        tmp_path,
        """
set(CONFIG_BOOTLOADER_MCUBOOT y)
set(CONFIG_MCUSEAL y)
set(CONFIG_MCUSEAL_ENCRYPTION_KEY_FILE "keys/enc.pem")
set(CONFIG_MCUSEAL_EXTRA_ARGS "-- --security-counter 3")
set(APPLICATION_BINARY_DIR /ws/app/build)
add_subdirectory(@MODULE@ ${CMAKE_BINARY_DIR}/modules/mcuseal)
"""
        + ZEPHYR_INCLUDES_SIGNING_SCRIPT,
    )
    first, second = post_build(build)
    assert first == ["imgtool-stub", "sign"]  # the SDK's signing still runs, and first
    assert second == [
        "/opt/bin/mcuseal",
        "seal",
        "-d",
        "/ws/app/build",
        "--encrypt",
        "keys/enc.pem",
        "--topdir",
        "/ws",
        "--",
        "--security-counter",
        "3",
    ]


def test_an_existing_signing_script_is_wrapped_not_replaced(tmp_path: Path) -> None:
    build = configure(
        tmp_path,
        """
file(WRITE ${CMAKE_BINARY_DIR}/vendor.cmake
  "set_property(GLOBAL APPEND PROPERTY extra_post_build_commands COMMAND vendor-sign)\\n")
set_target_properties(zephyr_property_target
  PROPERTIES SIGNING_SCRIPT ${CMAKE_BINARY_DIR}/vendor.cmake)
set(CONFIG_BOOTLOADER_MCUBOOT y)
set(CONFIG_MCUSEAL y)
set(CONFIG_MCUSEAL_ALLOW_DEV_KEYS y)
set(CONFIG_MCUSEAL_FORCE y)
set(APPLICATION_BINARY_DIR /ws/app/build)
add_subdirectory(@MODULE@ ${CMAKE_BINARY_DIR}/modules/mcuseal)
"""
        + ZEPHYR_INCLUDES_SIGNING_SCRIPT,
    )
    first, second = post_build(build)
    assert first == ["vendor-sign"]
    assert second == [
        "/opt/bin/mcuseal",
        "seal",
        "-d",
        "/ws/app/build",
        "--encrypt",
        "--topdir",
        "/ws",
        "--force",
        "--allow-dev-keys",
    ]


def test_sysbuild_image_runs_the_preflight_on_the_sysbuild_dir(tmp_path: Path) -> None:
    build = configure(
        tmp_path,
        """
set(SYSBUILD TRUE)
set(CONFIG_BOOTLOADER_MCUBOOT y)
set(CONFIG_MCUSEAL y)
set(APPLICATION_BINARY_DIR /ws/build/peripheral_lbs)
add_subdirectory(@MODULE@ ${CMAKE_BINARY_DIR}/modules/mcuseal)
"""
        + ZEPHYR_INCLUDES_SIGNING_SCRIPT,
    )
    first, second = post_build(build)
    assert first == ["imgtool-stub", "sign"]
    assert second == [
        "/opt/bin/mcuseal",
        "check",
        "-d",
        "/ws/build",
        "--encrypt",
        "--topdir",
        "/ws",
    ]


def test_ncs_v1_post_build_target_runs_after_ncs_signing(tmp_path: Path) -> None:
    build = configure(
        tmp_path,
        """
set(CONFIG_BOOTLOADER_MCUBOOT y)
set(CONFIG_PARTITION_MANAGER_ENABLED y)
set(CONFIG_MCUSEAL y)
set(CONFIG_MCUSEAL_ENCRYPTION_KEY_FILE /keys/enc.pem)
set(PROJECT_BINARY_DIR /ws/build)
add_subdirectory(@MODULE@ ${CMAKE_BINARY_DIR}/modules/mcuseal)
# NCS (nrf/modules/mcuboot) defines its signing and zip targets after the modules.
add_custom_target(mcuboot_sign_target)
add_custom_target(dfu_application_zip)
""",
    )
    assert not (build / "post_build.txt").exists()
    command = target_command(build / "modules" / "mcuseal", "mcuseal_seal")
    assert command.endswith(
        "/opt/bin/mcuseal seal -d /ws/build --encrypt /keys/enc.pem --topdir /ws"
    )
    assert {"mcuboot_sign_target", "dfu_application_zip"} <= target_depends(build, "mcuseal_seal")


def test_sysbuild_part_seals_after_every_image(tmp_path: Path) -> None:
    build = configure(
        tmp_path,
        """
set(SB_CONFIG_MCUSEAL y)
set(SB_CONFIG_MCUSEAL_ALLOW_DEV_KEYS y)
set(SB_CONFIG_MCUSEAL_ENCRYPTION_KEY_FILE keys/enc.pem)
set(DEFAULT_IMAGE peripheral_lbs)
function(set_config_bool image setting value)
  file(APPEND ${CMAKE_BINARY_DIR}/config.txt "${image} ${setting}=${value}\\n")
endfunction()
function(set_config_string image setting value)
  file(APPEND ${CMAKE_BINARY_DIR}/config.txt "${image} ${setting}=\\"${value}\\"\\n")
endfunction()
add_subdirectory(@MODULE@/sysbuild ${CMAKE_BINARY_DIR}/modules/mcuseal)
# sysbuild_module_call(PRE_CMAKE ...) before the images are configured:
cmake_language(CALL mcuseal_PRE_CMAKE IMAGES peripheral_lbs mcuboot ipc_radio)
foreach(image peripheral_lbs mcuboot ipc_radio)
  add_custom_target(${image})
  set_property(GLOBAL APPEND PROPERTY sysbuild_images ${image})
endforeach()
add_custom_target(merged_hex)
""",
    )
    command = target_command(build, "mcuseal_seal")
    assert command.endswith(
        f"/opt/bin/mcuseal seal -d {build} --encrypt keys/enc.pem --topdir /ws --allow-dev-keys"
    )
    assert {"peripheral_lbs", "mcuboot", "ipc_radio", "merged_hex"} <= target_depends(
        build, "mcuseal_seal"
    )
    config = (build / "config.txt").read_text().splitlines()
    assert "peripheral_lbs CONFIG_MCUSEAL=y" in config
    assert 'peripheral_lbs CONFIG_MCUSEAL_ENCRYPTION_KEY_FILE="keys/enc.pem"' in config


def test_module_off_changes_nothing(tmp_path: Path) -> None:
    build = configure(
        tmp_path,
        """
set(CONFIG_BOOTLOADER_MCUBOOT y)
add_subdirectory(@MODULE@ ${CMAKE_BINARY_DIR}/modules/mcuseal)
"""
        + ZEPHYR_INCLUDES_SIGNING_SCRIPT.replace(
            "include(${signing_script})", "include(${ZEPHYR_BASE}/cmake/mcuboot.cmake)"
        ),
    )
    assert post_build(build) == [["imgtool-stub", "sign"]]


def test_module_yml_names_existing_files() -> None:
    doc = yaml.safe_load((MODULE / "module.yml").read_text())
    build = doc["build"]
    assert doc["name"] == "mcuseal"
    assert (REPO / build["cmake"] / "CMakeLists.txt").is_file()
    assert (REPO / build["kconfig"]).is_file()
    assert (REPO / build["sysbuild-cmake"] / "CMakeLists.txt").is_file()
    assert (REPO / build["sysbuild-kconfig"]).is_file()
    kconfig = (MODULE / "Kconfig").read_text()
    assert "config MCUSEAL_ENCRYPTION_KEY_FILE" in kconfig
    assert "config MCUSEAL_ENCRYPTION_KEY_FILE" in (MODULE / "sysbuild" / "Kconfig").read_text()
