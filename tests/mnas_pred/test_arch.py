"""Architecture strings: parsing, formatting, validation, named references."""

import pytest

from mnas_pred.arch import REFERENCES, Architecture, parse_arch
from mnas_pred.errors import ArchitectureError
from mnas_pred.space import SearchSpace

A1 = REFERENCES["mnasnet-a1"]


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_references_round_trip(name):
    arch = parse_arch(name)
    assert arch.to_string() == REFERENCES[name]
    assert Architecture.parse(arch.to_string()) == arch


def test_reference_names_are_case_insensitive():
    assert parse_arch("MnasNet-A1") == parse_arch("mnasnet-a1")


def test_block_tokens_are_readable():
    b = parse_arch(A1).blocks[2]
    assert (b.op, b.expansion, b.kernel, b.layers, b.filters, b.stride, b.se_ratio, b.skip) == (
        "mbconv", 3, 5, 3, 40, 2, 0.25, "identity",
    )
    assert b.to_string() == "mbconv3_k5_r3_c40_s2_se0.25_skipid"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("resnet50", "unknown architecture 'resnet50'"),
        ("", "empty architecture string"),
        ("mbconv6_k3_r2_c24_s2_se0", "has 6 tokens, expected 7"),
        ("mbconvx_k3_r2_c24_s2_se0_skipid", "unknown conv op 'mbconvx'"),
        ("mbconv6_k4_r2_c24_s2_se0_skipid", "kernel 'k4' is even"),
        ("mbconv6_kk_r2_c24_s2_se0_skipid", "bad kernel token 'kk'"),
        ("mbconv6_k3_r0_c24_s2_se0_skipid", "bad repeats token 'r0'"),
        ("mbconv6_k3_r2_c24_s3_se0_skipid", "bad stride token 's3'"),
        ("mbconv6_k3_r2_c24_s2_se2_skipid", "bad squeeze-excitation token 'se2'"),
        ("mbconv6_k3_r2_c24_s2_se0.250_skipid", "not canonical"),
        ("mbconv6_k3_r2_c24_s2_se0_skipsome", "bad skip token 'skipsome'"),
        # a skip that cannot apply: one layer that changes the width (32 -> 16)
        ("sepconv_k3_r1_c16_s1_se0_skipid", "skipid cannot apply"),
        ("sepconv_k3_r1_c32_s2_se0_skipid", "skipid cannot apply"),
    ],
)
def test_malformed_strings_name_the_bad_token(text, fragment):
    with pytest.raises(ArchitectureError) as e:
        parse_arch(text)
    msg = str(e.value)
    assert fragment in msg
    assert "\n" not in msg


def test_error_names_the_block():
    bad = A1.replace("mbconv6_k3_r4_c80", "mbconv6_k3_r4_cX", 1)
    with pytest.raises(ArchitectureError, match="block 4"):
        parse_arch(bad)


def test_identity_applies_when_block_has_more_layers():
    # stride 2 and a width change on the first layer, but layers 2..3 can add a residual
    assert parse_arch("mbconv6_k3_r3_c24_s2_se0_skipid").blocks[0].skip == "identity"


def test_values_outside_the_space_are_rejected_by_the_space_not_the_format():
    arch = parse_arch(A1)  # 112 filters in block 5 is not a x{0.75,1,1.25} multiple of 96
    space = SearchSpace.default()
    with pytest.raises(ArchitectureError, match=r"block 5: 'c112' is outside this search space; block 5 allows 72, 96, 120"):
        space.validate(arch)
    assert space.contains("mobilenetv2")


@pytest.mark.parametrize("old, new", [("mbconv6_k3_r2_c24", "mbconv7_k3_r2_c24"), ("c96_s1_se0", "c96_s1_se0.5")])
def test_format_accepts_other_expansions_and_se_ratios_but_the_default_space_refuses_them(old, new):
    # the format expresses what other tables hold (design: expansions other than 3 and 6);
    # whether a search could produce the network is the space's question
    text = REFERENCES["mobilenetv2"].replace(old, new, 1)
    arch = parse_arch(text)
    assert arch.to_string() == text
    bad = new.split("_")[0] if new.startswith("mbconv") else "se0.5"
    with pytest.raises(ArchitectureError, match=f"'{bad}' is outside this search space"):
        SearchSpace.default().validate(arch)


@pytest.mark.parametrize("typed, meant", [("mnasnet_a1", "mnasnet-a1"), ("MobileNet_V2", "mobilenetv2"),
                                          ("mnasnetb1", "mnasnet-b1")])
def test_a_misspelt_reference_name_gets_the_reference_suggested(typed, meant):
    with pytest.raises(ArchitectureError) as e:
        parse_arch(typed)
    assert f"did you mean the named reference '{meant}'" in str(e.value)
    assert "tokens" not in str(e.value)
