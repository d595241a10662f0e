"""imgtool options given through the build (``CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS``, ``-- ...``).

Only options that shape an image in a build are accepted; geometry comes from the build
itself, so ``--slot-size``/``--header-size``/``--align``/``--version``/``-k``/``-E`` here are
refused with a pointer to where they are configured instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from mcuseal.errors import UsageError
from mcuseal.image import ImageVersion, SignOptions

_GEOMETRY = {
    "-S": "slot size",
    "--slot-size": "slot size",
    "-H": "header size",
    "--header-size": "header size",
    "--align": "align",
    "-v": "version",
    "--version": "version",
    "-k": "signing key (use -k on the mcuseal command line)",
    "--key": "signing key (use -k on the mcuseal command line)",
}

_FLAGS = {
    "--pad": "pad",
    "--confirm": "confirm",
    "--overwrite-only": "overwrite_only",
    "--pure": "pure",
    "--pad-sig": "pad_sig",
    "--save-enctlv": "save_enctlv",
    "--non-bootable": "non_bootable",
    "--pad-header": "pad_header",
}


def _int(text: str, option: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError(f"imgtool option {option} needs a number, got {text!r}") from None


def apply_imgtool_args(options: SignOptions, args: Sequence[str], source: str) -> SignOptions:
    """Return *options* with the imgtool options in *args* applied.

    :param source: where *args* came from, for messages
    :raises UsageError: an option mcuseal does not take here, or a bad value
    """
    changes: dict[str, Any] = {}
    it = iter(args)
    for raw in it:
        option, _, inline = raw.partition("=") if raw.startswith("--") else (raw, "", "")

        def value(opt: str = option, text: str = inline) -> str:
            got = text or next(it, None)
            if got is None:
                raise UsageError(f"{source}: imgtool option {opt} needs a value")
            return got

        if option in _GEOMETRY:
            raise UsageError(
                f"{source}: {option} sets the {_GEOMETRY[option]}, which mcuseal takes from the "
                "build configuration; drop it"
            )
        if option in _FLAGS:
            changes[_FLAGS[option]] = True
        elif option in ("-s", "--security-counter"):
            text = value()
            changes["security_counter"] = "auto" if text == "auto" else _int(text, option)
        elif option == "--sha":
            text = value()
            changes["sha"] = "auto" if text == "auto" else _int(text, option)
        elif option == "--hmac-sha":
            text = value()
            changes["hmac_sha"] = "auto" if text == "auto" else _int(text, option)
        elif option == "--encrypt-keylen":
            changes["encrypt_keylen"] = _int(value(), option)
        elif option in ("-M", "--max-sectors"):
            changes["max_sectors"] = _int(value(), option)
        elif option == "--max-align":
            changes["max_align"] = _int(value(), option)
        elif option in ("-R", "--erased-val"):
            changes["erased_val"] = _int(value(), option)
        elif option in ("-L", "--load-addr"):
            changes["load_addr"] = _int(value(), option)
        elif option in ("-F", "--rom-fixed"):
            changes["rom_fixed"] = _int(value(), option)
        elif option == "--public-key-format":
            changes["public_key_format"] = value()
        elif option == "--boot-record":
            changes["boot_record"] = value()
        elif option == "--vid":
            changes["vid"] = value()
        elif option == "--cid":
            changes["cid"] = value()
        elif option in ("-d", "--dependencies"):
            changes["dependencies"] = _dependencies(value(), source)
        else:
            raise UsageError(
                f"{source}: imgtool option {raw!r} is not supported when sealing a build; "
                "use 'mcuseal sign' for it"
            )
    return dataclasses.replace(options, **changes) if changes else options


def _dependencies(text: str, source: str) -> tuple[tuple[int, ImageVersion], ...]:
    body = text.strip().strip("()")
    out: list[tuple[int, ImageVersion]] = []
    for part in filter(None, (p.strip() for p in body.split(";"))):
        image, _, version = part.partition(",")
        out.append((_int(image.strip(), "--dependencies"), ImageVersion.parse(version.strip())))
    if not out:
        raise UsageError(f"{source}: --dependencies {text!r} names no image")
    return tuple(out)
