"""The search's JSON-lines logs share one reader (search.caches.JsonLinesLog): a damaged header is
refused in one line (the rows after it are kept for the user to inspect), a log written under
other settings is set aside with a note, never deleted."""

import json

import pytest

from mnas_pred.errors import MnasPredError
from search.caches import AccuracyCache
from search.references import ReferenceCache

ROW = {"arch": "a", "accuracy": 0.5, "latency_ms": 1.0, "latency_spread": None, "train_s": 1.0, "measure_s": 0.5}


def _accuracy(path, fingerprint, log=None):
    return AccuracyCache(path, fingerprint, log)


def _reference(path, fingerprint, log=None):
    return ReferenceCache(path, fingerprint, log)


def _put(cache):
    if isinstance(cache, AccuracyCache):
        cache.put("a", 0.5)
    else:
        cache.put(dict(ROW))


@pytest.mark.parametrize("open_log", [_accuracy, _reference], ids=["accuracy", "references"])
def test_a_damaged_header_is_refused_and_the_file_kept(tmp_path, open_log):
    path = tmp_path / "log.jsonl"
    _put(open_log(path, {"k": 1}))
    lines = path.read_text().splitlines()
    path.write_text("\n".join(['{"fingerprint": ', *lines[1:]]) + "\n")
    before = path.read_bytes()
    with pytest.raises(MnasPredError, match="damaged first line") as e:
        open_log(path, {"k": 1})
    assert str(path) in e.value.fix and path.read_bytes() == before


@pytest.mark.parametrize("open_log", [_accuracy, _reference], ids=["accuracy", "references"])
def test_a_log_of_other_settings_is_set_aside_with_a_note(tmp_path, open_log):
    path = tmp_path / "log.jsonl"
    _put(open_log(path, {"k": 1}))
    old = path.read_bytes()
    notes = []
    fresh = open_log(path, {"k": 2}, notes.append)
    assert fresh.values == {} and json.loads(path.read_text()) == {"fingerprint": {"k": 2}}
    assert (tmp_path / "log.jsonl.other-settings").read_bytes() == old
    assert len(notes) == 1 and "log.jsonl.other-settings" in notes[0] and "other settings" in notes[0]
    _put(fresh)
    open_log(path, {"k": 3})  # a second one does not overwrite the first
    assert (tmp_path / "log.jsonl.other-settings").read_bytes() == old
    assert (tmp_path / "log.jsonl.other-settings-2").exists()
