"""The factorized hierarchical search space: choices, sampling, tokens, configuration files."""

import json

import numpy as np
import pytest

from mnas_pred.arch import parse_arch
from mnas_pred.errors import ArchitectureError, SearchSpaceError
from mnas_pred.space import SearchSpace


@pytest.fixture(scope="module")
def space():
    return SearchSpace.default()


def test_default_space_matches_the_paper(space):
    assert space.num_blocks == 7
    assert space.num_decisions == 42
    assert all(b.num_choices == 432 for b in space.blocks)
    assert space.size == 432**7
    assert [b.stride for b in space.blocks] == [1, 2, 2, 2, 1, 2, 1]
    assert space.blocks[3].filters == (48, 64, 80)
    assert space.blocks[3].layers == (3, 4, 5)
    assert space.blocks[0].layers == (1, 1, 2)  # base 1 - 1 is clamped to one layer
    assert all(f % 8 == 0 for b in space.blocks for f in b.filters)
    assert space.vocab_sizes()[:6] == [4, 2, 2, 3, 3, 3]


def test_sampling_is_seeded_and_inside_the_space(space):
    a = space.sample(50, seed=7)
    assert a == space.sample(50, seed=7)
    assert a != space.sample(50, seed=8)
    assert space.sample(20, seed=7) == a[:20]  # prefix-stable: more models extend a run
    assert all(space.contains(x) for x in a)


def test_sampling_is_uniform_over_tokens(space):
    tokens = space.sample_tokens(20000, seed=0)
    assert tokens.shape == (20000, 42)
    # op of block 4: four choices, each about a quarter
    freq = np.bincount(tokens[:, 18], minlength=4) / len(tokens)
    assert np.allclose(freq, 0.25, atol=0.02)


def test_tokens_round_trip(space):
    for tokens in space.sample_tokens(300, seed=1):
        arch = space.decode(tokens)
        assert space.decode(space.encode(arch)) == arch
        assert parse_arch(arch.to_string()) == arch


def test_decode_turns_an_impossible_identity_into_none(space):
    tokens = [0] * 42
    tokens[3] = 1  # block 1: skip identity
    tokens[4] = 0  # 16 filters (from the 32-wide stem), one layer: no layer can add a residual
    tokens[5] = 0
    assert space.decode(tokens).blocks[0].skip == "none"


def test_decode_rejects_out_of_range_tokens(space):
    with pytest.raises(ArchitectureError, match="out of range"):
        space.decode([9] * 42)
    with pytest.raises(ArchitectureError, match="expected 42 tokens"):
        space.decode([0] * 5)


def test_space_from_toml_file(tmp_path):
    f = tmp_path / "small.toml"
    f.write_text(
        'resolution = 96\nnum_classes = 10\n[choices]\nops = ["mbconv3", "mbconv6"]\nkernels = [3]\n'
        '[[blocks]]\nfilters = 16\nlayers = 1\nstride = 2\n'
        '[[blocks]]\nfilters = 32\nlayers = 2\nstride = 2\nkernels = [3, 5, 7]\n'
    )
    s = SearchSpace.from_file(f)
    assert (s.resolution, s.num_classes, s.num_blocks, s.num_decisions) == (96, 10, 2, 12)
    assert s.blocks[1].kernels == (3, 5, 7)
    assert s.size == (2 * 1 * 2 * 3 * 3 * 3) * (2 * 3 * 2 * 3 * 3 * 3)
    for a in s.sample(20, seed=0):
        assert s.contains(a)
        assert len(a.blocks) == 2


def test_space_from_json_file(tmp_path):
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"choices": {"se_ratios": [0]}}))
    s = SearchSpace.from_file(f)
    assert all(b.se_ratios == (0.0,) for b in s.blocks)


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("resolution = ", "cannot parse"),
        ("colour = 3", "unknown key(s) colour"),
        ('[choices]\nops = ["mbconvz"]', "unknown conv op"),
        ("[choices]\nkernels = [4]", "kernels must be odd"),
        ("[[blocks]]\nlayers = 2", "block 1: filters is missing"),
        ("[[blocks]]\nfilters = 16\nlayers = 1\nstride = 3", "block 1: stride must be at most 2 (got 3)"),
    ],
)
def test_bad_space_files_give_one_line(tmp_path, content, fragment):
    f = tmp_path / "bad.toml"
    f.write_text(content)
    with pytest.raises(SearchSpaceError) as e:
        SearchSpace.from_file(f)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_space_file(tmp_path):
    with pytest.raises(SearchSpaceError, match="does not exist"):
        SearchSpace.from_file(tmp_path / "nope.toml")
