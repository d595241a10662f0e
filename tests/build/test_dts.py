from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuseal.build.dts import Devicetree
from mcuseal.errors import BuildError

from .conftest import SAMPLE_D, SAMPLES


def test_partitions_and_chosen_flash_of_a_zephyr_dts() -> None:
    dts = Devicetree.load_file(
        SAMPLES / SAMPLE_D / "build" / "hello_world" / "zephyr" / "zephyr.dts"
    )
    flash = dts.chosen("zephyr,flash")
    assert flash is not None and flash.int_prop("write-block-size") == 4
    slot0 = dts.partition("slot0_partition")
    slot1 = dts.partition("slot1_partition")
    assert slot0 is not None and (slot0.address, slot0.size) == (0xC000, 0x77000)
    assert slot1 is not None and (slot1.address, slot1.size) == (0x83000, 0x75000)
    assert slot0.memory_mapped and slot0.write_block_size == 4
    assert dts.partition("nope") is None
    sram = dts.chosen("zephyr,sram")
    assert sram is not None and sram.reg() == [(0x20000000, 0x40000)]


def test_partition_on_external_flash_is_not_memory_mapped() -> None:
    dts = Devicetree.loads(
        """/dts-v1/;
/ { #address-cells = <1>; #size-cells = <1>;
  soc { #address-cells = <1>; #size-cells = <1>;
    qspi: qspi@2b000 { #address-cells = <1>; #size-cells = <0>;
      mx25: nor@0 { compatible = "nordic,qspi-nor"; reg = <0>;
        partitions { compatible = "fixed-partitions"; #address-cells = <1>; #size-cells = <1>;
          slot1_partition: partition@0 { reg = <0x0 0x80000>; label = "image-1"; };
        };
      };
    };
  };
};
"""
    )
    slot1 = dts.partition("slot1_partition")
    assert slot1 is not None and not slot1.memory_mapped and slot1.address == 0


def test_properties_of_every_value_kind() -> None:
    dts = Devicetree.loads(
        '/dts-v1/;\n/ { a = "x", "y"; b = [01 02 ff]; c = <1 2>, <&lbl>; d; '
        "lbl: n@1 { reg = <1 2>; }; };\n&lbl { e = <3>; };\n"
    )
    root = dts.root
    assert root.strings("a") == ["x", "y"]
    assert root.props["b"] == [b"\x01\x02\xff"]
    assert root.cells("c") == (1, 2, "&lbl")
    assert root.props["d"] == []
    assert dts.resolve("&lbl") is dts.labels["lbl"]
    assert dts.node("/n@1") is dts.labels["lbl"]
    assert dts.node("/n") is dts.labels["lbl"]


@pytest.mark.parametrize(
    "text",
    [
        "/ { a = <1 2>",
        "/ { a = <zz>; };",
        "/ { lbl: a = ; };",
        "/ { n { reg = <1 2 3 4>; }; };",
        "/ { x = [0g]; };",
        "/ { x = \x01; };",
    ],
)
def test_malformed_devicetrees_raise_build_error(text: str) -> None:
    with pytest.raises(BuildError):
        dts = Devicetree.loads(text)
        for node in dts.labels.values():
            node.reg()
        dts.root.children[0].reg()


@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_raises_build_error(text: str) -> None:
    try:
        dts = Devicetree.loads(text)
        dts.partition("slot0_partition")
        dts.chosen("zephyr,flash")
    except BuildError:
        pass
