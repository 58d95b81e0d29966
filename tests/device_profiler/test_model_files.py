"""Model files for the campaign (device_profiler.model_files, device_profiler.formats): ONNX
exported in process, one file per architecture while a caller holds it, shared by threads."""

from __future__ import annotations

import threading

import onnx
import pytest

from device_profiler.formats import model_files_class, open_model_files
from device_profiler.model_files import OnnxFiles, sha256_file
from mnas_pred.errors import DeviceError
from mnas_pred.space import SearchSpace

ARCHS = [a.to_string() for a in SearchSpace.default().sample(2, seed=3)]


def test_onnx_files_are_real_models_kept_while_held(tmp_path):
    with OnnxFiles(32, 10, workdir=tmp_path) as files:
        a = files.path(ARCHS[0])
        onnx.checker.check_model(str(a))
        assert files.path(ARCHS[0]) == a  # a second holder gets the same file
        assert files.sha256(a) == sha256_file(a)  # the hash of the exported bytes, without reading the file
        files.release(ARCHS[0])
        assert a.exists()  # the other holder still has it
        files.release(ARCHS[0])
        assert not a.exists()
        files.release(ARCHS[0])  # releasing what is not held does nothing
        b = files.path(ARCHS[1])
    assert not b.exists() and list(tmp_path.iterdir()) == []  # close() removed its folder
    files.close()  # twice is fine


def test_threads_asking_for_one_architecture_share_one_file(tmp_path):
    with OnnxFiles(32, 10, workdir=tmp_path) as files:
        got: list = []
        threads = [threading.Thread(target=lambda: got.append(files.path(ARCHS[0]))) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(got)) == 1 and got[0].exists()
        assert len(list(got[0].parent.iterdir())) == 1  # the losers of the race left no file behind


def test_the_factory_chooses_by_format():
    assert model_files_class("onnx") is OnnxFiles
    with pytest.raises(DeviceError, match="no model files of format 'coreml'"):
        model_files_class("coreml")
    with open_model_files("onnx", 32, 10) as files:
        assert files.fmt == "onnx" and files.resolution == 32 and files.num_classes == 10
