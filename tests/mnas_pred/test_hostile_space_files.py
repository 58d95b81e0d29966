"""Hostile search-space files (issue 12): each refused with one line and exit 2 by the CLI,
and the space's limits are the architecture-string parser's, so every architecture a space at
those limits samples parses back."""

from __future__ import annotations

import json

import pytest

from mnas_pred.arch import CHANNELS_RANGE, KERNEL_RANGE, REPEATS_RANGE, parse_arch
from mnas_pred.cli import main
from mnas_pred.space import SearchSpace
from tests.hostile import refused_by_subprocess, refused_in_process

SPACES = {
    "a_list.json": ("[1, 2]", "must hold a table of settings, not a list"),
    "empty_list.json": ("[]", "not a list"),
    "a_number.json": ("42", "not a number"),
    "choices_a_list.json": ('{"choices": [1]}', "choices must be a table"),
    "blocks_ints.json": ('{"blocks": [1, 2]}', "blocks.0 must be a table"),
    "blocks_empty.json": ('{"blocks": []}', "blocks must have at least 1 entry"),
    "kernels_text.json": ('{"choices": {"kernels": ["a"]}}', "choices.kernels.0 must be a whole number"),
    "kernels_1001.json": ('{"choices": {"kernels": [1001]}}', f"must be at most {KERNEL_RANGE[1]}"),
    "kernels_float.json": ('{"choices": {"kernels": [3.5]}}', "must be a whole number"),
    "multipliers_text.json": ('{"choices": {"filter_multipliers": ["big"]}}', "filter_multipliers.0 must be a number"),
    "multipliers_huge.json": ('{"choices": {"filter_multipliers": [3000]}}', f"at most {CHANNELS_RANGE[1]}"),
    "ops_numbers.json": ('{"choices": {"ops": [1]}}', "choices.ops.0 must be text"),
    "filters_1e8.json": ('{"blocks": [{"filters": 100000000, "layers": 1}]}', f"block 1: filters must be at most {CHANNELS_RANGE[1]}"),
    "layers_offset_deep.json": ('{"blocks": [{"filters": 16, "layers": 30, "layer_offsets": [5]}]}', f"at most {REPEATS_RANGE[1]}"),
    "se_not_a_token.json": ('{"choices": {"se_ratios": [0.1234567]}}', "cannot be written as an se token"),
    "se_nan.json": ('{"choices": {"se_ratios": [NaN]}}', "must be a finite number"),
    "resolution_huge.json": ('{"resolution": 100000000}', "resolution must be at most"),
    "resolution_text.json": ('{"resolution": "224"}', "resolution must be a whole number"),
    "skips_bad.json": ('{"choices": {"skips": ["teleport"]}}', "choices.skips.0 must be"),
    "too_many_choices.json": ('{"choices": {"kernels": [' + ",".join(["3"] * 50) + "]}}", "at most 16 entries"),
    "deep.json": ('{"blocks": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    "deep_parseable.json": ('{"choices": {"ops": ' + "[" * 20 + "]" * 20 + "}}", "nested more than 8 levels"),
    "deep.toml": ("x = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    "not_utf8.toml": (b"\xff\xfe = 1", "cannot parse"),
    "unknown_key.toml": ("colour = 3", "unknown key(s) colour"),
}


@pytest.mark.parametrize("name", sorted(SPACES))
def test_hostile_space_file_is_one_line(tmp_path, capsys, name):
    content, fragment = SPACES[name]
    f = tmp_path / name
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    refused_in_process(capsys, ["sample", "-n", "2", "--space", f], fragment, folder=tmp_path)


def test_search_refuses_a_bad_space_before_creating_its_folder(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(SPACES["blocks_empty.json"][0])
    refused_by_subprocess(["search", "--out", tmp_path / "out", "--target-ms", "5", "--space", f,
                           "--accuracy", "analytic", "--latency", "analytic", "--use-predictor", "analytic"],
                          "blocks must have at least 1 entry", folder=tmp_path)


def test_a_space_at_the_parser_limits_samples_strings_that_parse_back(tmp_path, capsys):
    space = {"resolution": 32, "choices": {"kernels": [KERNEL_RANGE[1]], "filter_multipliers": [1.0],
                                           "layer_offsets": [0]},
             "blocks": [{"filters": CHANNELS_RANGE[1], "layers": REPEATS_RANGE[1], "stride": 2}]}
    f = tmp_path / "edge.json"
    f.write_text(json.dumps(space))
    assert main(["sample", "-n", "3", "--space", str(f)]) == 0
    lines = [s for s in capsys.readouterr().out.split() if "_k" in s]
    assert lines
    for s in lines:
        arch = parse_arch(s)
        assert SearchSpace.from_file(f).contains(arch) and arch.to_string() == s
