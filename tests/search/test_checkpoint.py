import pickle

import numpy as np
import pytest

from mnas_pred.errors import MnasPredError
from search.checkpoint import load_state, save_state


def test_round_trip_of_nested_json_and_arrays(tmp_path):
    state = {"a": 1, "b": [1.5, None, "x", {"c": np.arange(6, dtype=np.float32).reshape(2, 3)}],
             "big": 2**100, "nan": float("nan"), "u8": np.array([1, 2, 255], dtype=np.uint8)}
    save_state(tmp_path / "c.npz", state)
    out = load_state(tmp_path / "c.npz")
    assert out["a"] == 1 and out["big"] == 2**100 and np.isnan(out["nan"])
    np.testing.assert_array_equal(out["b"][3]["c"], state["b"][3]["c"])
    assert out["b"][3]["c"].dtype == np.float32 and out["u8"].dtype == np.uint8


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(TypeError, match="pickle"):
        save_state(tmp_path / "c.npz", {"x": np.array([{"a": 1}], dtype=object)})


def test_loading_never_unpickles(tmp_path, monkeypatch):
    save_state(tmp_path / "c.npz", {"w": np.ones(3)})

    def boom(*a, **k):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    assert load_state(tmp_path / "c.npz")["w"].sum() == 3


def test_a_pickled_array_inside_is_rejected(tmp_path):
    np.savez(tmp_path / "evil.npz", __json__=np.frombuffer(b'{"format": "mnas-pred-state/1", "state": {}}', np.uint8),
             a0=np.array([object()], dtype=object))
    with pytest.raises(MnasPredError, match="checkpoint .*(Python objects|damaged)"):
        load_state(tmp_path / "evil.npz")


def test_garbage_is_a_user_error(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"not a zip")
    with pytest.raises(MnasPredError):
        load_state(tmp_path / "c.npz")
