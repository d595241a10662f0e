"""Reading Zephyr / nRF Connect SDK build directories and planning encrypted signing.

``read_build(dir)`` -> :class:`BuildInfo`; ``make_plan(build, ...)`` -> :class:`SealPlan`;
``run_preflight(plan)`` -> :class:`PreflightReport`.  Nothing here writes a file.
"""

from __future__ import annotations

from mcuseal.build.plan import ImagePlan, KeyRef, McubootConfig, SealPlan, UpgradeMode, make_plan
from mcuseal.build.preflight import Finding, PreflightReport, Severity, run_preflight
from mcuseal.build.reader import BuildInfo, Flavour, ImageBuild, SdkVersion, read_build

__all__ = [
    "BuildInfo",
    "Finding",
    "Flavour",
    "ImageBuild",
    "ImagePlan",
    "KeyRef",
    "McubootConfig",
    "PreflightReport",
    "SdkVersion",
    "SealPlan",
    "Severity",
    "UpgradeMode",
    "make_plan",
    "read_build",
    "run_preflight",
]
