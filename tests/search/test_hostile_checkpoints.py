"""Tampered results folders (issue 12): ``search --resume`` refuses each with one line and exit
2, before it changes anything in the folder; a deflate bomb and a header claiming 100 GiB are
refused before anything is inflated. Each folder is a copy of one real (cheap, analytic) search
with one file edited."""

from __future__ import annotations

import json
import resource
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnas_pred.cli import main
from tests.hostile import refused_by_subprocess, refused_in_process

ARGS = ["--target-ms", "8", "--accuracy", "analytic", "--latency", "analytic", "--use-predictor", "analytic",
        "--samples", "3", "--batch-size", "3", "--revalidate-every", "1", "--seed", "1"]


@pytest.fixture(scope="session")
def finished_search(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("search") / "run"
    assert main(["search", "--out", str(out), *ARGS]) == 0
    for name in ("checkpoint.npz", "accuracy_cache.jsonl", "measurements.jsonl"):
        assert (out / name).is_file(), name
    return out


@pytest.fixture
def folder(finished_search, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(finished_search, dst)
    # the copy lives elsewhere: point its recorded --out there (resume compares the settings)
    rewrite_state(dst, lambda doc: doc["state"]["config"].update(out_dir=str(dst)))
    return dst


def resume(folder: Path) -> list[str]:
    return ["search", "--out", folder, *ARGS, "--resume"]


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "checkpoint.npz", allow_pickle=False) as npz:  # our own, trusted file
        return {k: npz[k] for k in npz.files}


def rewrite_state(folder: Path, edit) -> None:
    """Edit the checkpoint's JSON skeleton (``edit(doc)``) and write it back as a valid .npz."""
    arrays = _arrays(folder)
    doc = json.loads(arrays["__json__"].tobytes())
    edit(doc)
    arrays["__json__"] = np.frombuffer(json.dumps(doc).encode(), np.uint8)
    np.savez(folder / "checkpoint.npz", **arrays)


def rewrite_json_bytes(folder: Path, raw: bytes) -> None:
    arrays = _arrays(folder)
    arrays["__json__"] = np.frombuffer(raw, np.uint8)
    np.savez(folder / "checkpoint.npz", **arrays)


def rewrite_array(folder: Path, key_in_state: str, value: np.ndarray) -> None:
    arrays = _arrays(folder)
    doc = json.loads(arrays["__json__"].tobytes())
    arrays[doc["state"][key_in_state]["__array__"]] = value
    np.savez(folder / "checkpoint.npz", **arrays)


def add_member(folder: Path, name: str, header: dict, data: bytes | int) -> None:
    """Add ``name`` to checkpoint.npz with a hand-written .npy header; ``data``: bytes, or a
    count of zero bytes written in chunks (deflate squeezes them ~1000:1)."""
    with zipfile.ZipFile(folder / "checkpoint.npz", "a", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(name, "w", force_zip64=True) as f:
            np.lib.format.write_array_header_2_0(f, header)
            if isinstance(data, bytes):
                f.write(data)
            else:
                chunk = bytes(1 << 24)
                for _ in range(data >> 24):
                    f.write(chunk)


def _pop(key):
    return lambda doc: doc["state"].pop(key)


def _set(*path_value):
    *path, value = path_value

    def edit(doc):
        node = doc["state"]
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return edit


CHECKPOINTS = {
    "truncated": (lambda f: (f / "checkpoint.npz").write_bytes((f / "checkpoint.npz").read_bytes()[:5000]), "damaged or not an .npz"),
    "not_a_zip": (lambda f: (f / "checkpoint.npz").write_bytes(b"hello"), "damaged or not an .npz"),
    "empty_file": (lambda f: (f / "checkpoint.npz").write_bytes(b""), "damaged or not an .npz"),
    "json_not_utf8": (lambda f: rewrite_json_bytes(f, b"\xff\xfe{}"), "not UTF-8"),
    "json_not_json": (lambda f: rewrite_json_bytes(f, b"{nope"), "not valid JSON"),
    "json_a_list": (lambda f: rewrite_json_bytes(f, b"[1, 2]"), "checkpoint format"),
    "json_too_deep": (lambda f: rewrite_json_bytes(f, b'{"format": "mnas-pred-state/1", "state": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}"), "nested"),
    "no_state": (lambda f: rewrite_state(f, lambda d: d.pop("state")), "holds no state"),
    "missing_config": (lambda f: rewrite_state(f, _pop("config")), "config is missing"),
    "config_a_list": (lambda f: rewrite_state(f, _set("config", [1])), "config must be a table"),
    "update_negative": (lambda f: rewrite_state(f, _set("update", -1)), "update must be at least 0"),
    "elapsed_text": (lambda f: rewrite_state(f, _set("elapsed_s", "soon")), "elapsed_s must be a number"),
    "history_not_list": (lambda f: rewrite_state(f, _set("history", 7)), "history must be a list"),
    "numpy_rng_name": (lambda f: rewrite_state(f, _set("numpy_rng", "name", "PCG64")), "numpy_rng.name"),
    "numpy_rng_pos": (lambda f: rewrite_state(f, _set("numpy_rng", "pos", 10**6)), "numpy_rng.pos must be at most 624"),
    "numpy_rng_keys_short": (lambda f: rewrite_state(f, lambda d: d["state"]["numpy_rng"].update(keys=[1, 2])), "numpy_rng.keys"),
    "torch_rng_short": (lambda f: rewrite_array(f, "torch_rng", np.zeros(7, np.uint8)), "torch_rng has 7 bytes"),
    "torch_rng_wrong_dtype": (lambda f: rewrite_array(f, "torch_rng", np.zeros(5056, np.float32)), "torch_rng must be a uint8 array"),
    "array_reference_to_nothing": (lambda f: rewrite_state(f, _set("torch_rng", {"__array__": "nope"})), "refers to an array it does not hold"),
    "strategy_junk": (lambda f: rewrite_state(f, _set("strategy", {"params": 5})), "does not fit this search"),
    "oracle_refits_text": (lambda f: rewrite_state(f, _set("oracle", "refits", "x")), "oracle.refits must be a whole number"),
    "object_array": (lambda f: add_member(f, "evil.npy", {"descr": "|O", "fortran_order": False, "shape": (1,)}, b"\x80\x04N."), "Python objects"),
    "header_claims_100GiB": (lambda f: add_member(f, "big.npy", {"descr": "<f8", "fortran_order": False, "shape": (100 * 2**30 // 8,)}, b"\0" * 64),
                             "header claims 107374182400 bytes"),
    "non_array_member": (lambda f: zipfile.ZipFile(f / "checkpoint.npz", "a").writestr("run.sh", "rm -rf ~"), "not an array"),
}


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_tampered_checkpoint_is_one_line(folder, capsys, name):
    edit, fragment = CHECKPOINTS[name]
    edit(folder)
    refused_in_process(capsys, resume(folder), fragment, folder=folder)


def _peak_growth_kib(checkpoint: Path) -> int:
    """How much the process's peak memory grows while load_state refuses ``checkpoint``."""
    from mnas_pred.errors import MnasPredError
    from search.checkpoint import load_state

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(MnasPredError):
        load_state(checkpoint)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before


def test_deflate_bomb_is_refused_before_inflating(folder, capsys):
    """300 MiB of zeros deflated to well under 1 MB: refused from the zip directory alone."""
    add_member(folder, "bomb.npy", {"descr": "|u1", "fortran_order": False, "shape": (300 * 2**20,)}, 300 * 2**20)
    assert (folder / "checkpoint.npz").stat().st_size < 3 * 2**20
    refused_in_process(capsys, resume(folder), "would inflate to", folder=folder)
    assert _peak_growth_kib(folder / "checkpoint.npz") < 100 * 1024  # nothing like 300 MiB was allocated


def test_a_bomb_that_lies_about_its_size_is_not_inflated(folder, capsys):
    """A member that declares 1 KiB but deflates to 64 MiB: zipfile stops at the declared size
    and the CRC fails; nothing near 64 MiB is allocated."""
    add_member(folder, "liar.npy", {"descr": "|u1", "fortran_order": False, "shape": (896,)}, 64 * 2**20)
    p = folder / "checkpoint.npz"
    data = bytearray(p.read_bytes())
    with zipfile.ZipFile(p) as zf:
        local = zf.getinfo("liar.npy").header_offset
    central = data.find(b"PK\x01\x02" + data[local + 4: local + 6])
    while data[central + 46: central + 54] != b"liar.npy":  # its central-directory entry
        central = data.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, central + 24, 1024)  # uncompressed size, central directory
    struct.pack_into("<I", data, local + 22, 1024)  # and local header
    p.write_bytes(bytes(data))
    refused_in_process(capsys, resume(folder), "damaged or not an .npz", folder=folder)
    assert _peak_growth_kib(p) < 32 * 1024


def test_truncated_checkpoint_in_a_real_process(folder):
    p = folder / "checkpoint.npz"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    refused_by_subprocess(resume(folder), "damaged or not an .npz", folder=folder)


# ------------------------------------------------------------------ the caches beside it
def _append(name, text: bytes):
    def edit(f):
        with open(f / name, "ab") as fh:
            fh.write(text)
    return edit


def _replace_first_line(name, text: bytes):
    def edit(f):
        lines = (f / name).read_bytes().split(b"\n")
        (f / name).write_bytes(b"\n".join([text, *lines[1:]]))
    return edit


CACHES = {
    "accuracy_header_damaged": (_replace_first_line("accuracy_cache.jsonl", b'{"fingerprint": '), "has a damaged first line"),
    "accuracy_line_list": (_append("accuracy_cache.jsonl", b"[1, 2]\n"), "is not a row (list)"),
    "accuracy_line_text": (_append("accuracy_cache.jsonl", b'{"arch": "x", "accuracy": "high"}\n'), "accuracy must be a number"),
    "accuracy_above_one": (_append("accuracy_cache.jsonl", b'{"arch": "x", "accuracy": 7}\n'), "accuracy must be at most 1"),
    "accuracy_not_utf8": (_append("accuracy_cache.jsonl", b'{"arch": "\xff", "accuracy": 0.5}\n'), "not UTF-8"),
    "measurements_line_list": (_append("measurements.jsonl", b"[1, 2]\n"), "is not a row (list)"),
    "measurements_missing_arch": (_append("measurements.jsonl", b'{"device": "analytic:x1.2", "latency_ms": 3}\n'), "arch is missing"),
    "measurements_nan": (_append("measurements.jsonl", b'{"device": "d", "arch": "a", "latency_ms": NaN}\n'), "latency_ms must be a finite number"),
    "measurements_negative": (_append("measurements.jsonl", b'{"device": "d", "arch": "a", "latency_ms": -1}\n'), "latency_ms must be above 0"),
    "measurements_bad_spread": (_append("measurements.jsonl", b'{"device": "d", "arch": "a", "latency_ms": 1, "spread": {"p10_ms": "x", "p90_ms": 1, "cv": 0}}\n'),
                                "spread.p10_ms must be a number"),
    "references_not_utf8": (_append("references.jsonl", b"\xff\n"), "reference cache"),
    "measurements_not_utf8": (_append("measurements.jsonl", b"\xff\n"), "not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(CACHES))
def test_tampered_cache_is_one_line(folder, capsys, name):
    edit, fragment = CACHES[name]
    edit(folder)
    refused_in_process(capsys, resume(folder), fragment, folder=folder)


def test_a_line_torn_by_a_kill_is_not_an_error(folder):
    """The one damage a kill can cause (a last line cut short): reading stops there, as before."""
    from search.caches import AccuracyCache, MeasurementCache

    n_measured = len(MeasurementCache(folder / "measurements.jsonl", "analytic:x1.2").values)
    header = json.loads((folder / "accuracy_cache.jsonl").read_text().splitlines()[0])
    n_trained = len(AccuracyCache(folder / "accuracy_cache.jsonl", header["fingerprint"]))
    _append("measurements.jsonl", b'{"device": "analytic:x1.2", "arch": "mbconv')(folder)
    _append("accuracy_cache.jsonl", b'{"arch": "conv_k3')(folder)
    assert len(MeasurementCache(folder / "measurements.jsonl", "analytic:x1.2").values) == n_measured > 0
    assert len(AccuracyCache(folder / "accuracy_cache.jsonl", header["fingerprint"])) == n_trained > 0


def test_a_measurement_with_its_spread_is_read(tmp_path):
    from search.caches import MeasurementCache

    spread = {"p10_ms": 1.0, "p90_ms": 2.0, "cv": 0.1, "runs": 5}
    MeasurementCache(tmp_path / "m.jsonl", "adb:X").put("conv_k3_r1_c16_s1_se0_skipnone", 1.5, spread)
    again = MeasurementCache(tmp_path / "m.jsonl", "adb:X")
    assert again.values == {"conv_k3_r1_c16_s1_se0_skipnone": 1.5} and again.spreads["conv_k3_r1_c16_s1_se0_skipnone"] == spread
