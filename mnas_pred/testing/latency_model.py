"""The contracts of the search's two latency protocols (``search.latency``), as pytest suites a
plug-in author runs against a new implementation:

* :class:`LatencyModelTestCase`: a ``LatencyModel`` (predicts, refits, keeps its state);
* :class:`LatencyMeasurerTestCase`: a ``LatencyMeasurer`` (a device the search measures on).

Written like Optuna's ``optuna/testing/pytest_storages.py``: subclass a suite in a test module
and define the fixtures it asks for::

    import pytest
    from mnas_pred.testing.latency_model import LatencyModelTestCase, LatencyMeasurerTestCase
    from my_plugin import MyModel, MyDevice

    @pytest.fixture
    def make_latency_model():
        return lambda: MyModel(resolution=224)

    @pytest.fixture
    def make_measurer():
        return lambda: MyDevice(resolution=64)

    class TestMyModel(LatencyModelTestCase):
        pass

    class TestMyDevice(LatencyMeasurerTestCase):
        pass

Optional fixtures: ``space`` and ``archs`` (what is predicted; default: networks of the paper's
space) and ``refit_inputs`` (``(archs, measured_ms)`` a refit learns from; default: the
model's own predictions, 30% slower). The project's own tests run the suites for
the analytic stand-ins, the predictor file adapter and the real device. This module imports only
the core and pytest.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mnas_pred.space import SearchSpace

#: predictions of one model through two paths (tokens given or not, a state restored) agree to this
RTOL = 1e-6


class LatencyModelTestCase:
    """Tests of one latency model; needs the fixture ``make_latency_model`` (a function returning
    a new model)."""

    @pytest.fixture
    def space(self) -> SearchSpace:
        return SearchSpace.default()

    @pytest.fixture
    def archs(self, space) -> list:
        return space.sample(6, seed=5)

    @pytest.fixture
    def refit_inputs(self, make_latency_model, archs):
        return archs, 1.3 * np.asarray(make_latency_model().predict(archs))

    def test_predict_gives_one_positive_latency_per_architecture(self, make_latency_model, archs):
        predicted = np.asarray(make_latency_model().predict(archs))
        assert predicted.shape == (len(archs),) and predicted.dtype == np.float64
        assert np.all(np.isfinite(predicted)) and np.all(predicted > 0)
        assert np.asarray(make_latency_model().predict([])).shape == (0,)

    def test_tokens_are_a_shortcut_not_another_answer(self, make_latency_model, space, archs):
        model = make_latency_model()
        tokens = [space.encode(a) for a in archs]
        np.testing.assert_allclose(model.predict(archs, tokens), model.predict(archs), rtol=RTOL)
        some = [t if i % 2 else None for i, t in enumerate(tokens)]  # the caller may have tokens for some only
        np.testing.assert_allclose(model.predict(archs, some), model.predict(archs), rtol=RTOL)
        low, high = model.predict_interval(archs, tokens=tokens)
        low2, high2 = model.predict_interval(archs)
        np.testing.assert_allclose(low, low2, rtol=RTOL)
        np.testing.assert_allclose(high, high2, rtol=RTOL)

    def test_interval_is_ordered(self, make_latency_model, archs):
        low, high = make_latency_model().predict_interval(archs, 0.8)
        assert np.shape(low) == np.shape(high) == (len(archs),)
        assert np.all(np.isfinite(low)) and np.all(low <= high)

    def test_refit_returns_a_new_model_and_leaves_the_original_alone(self, make_latency_model, archs,
                                                                      refit_inputs, tmp_path):
        model = make_latency_model()
        before = np.asarray(model.predict(archs))
        train, measured = refit_inputs
        refitted = model.refit(list(train), np.asarray(measured, dtype=np.float64), tmp_path)
        assert refitted is not model
        np.testing.assert_array_equal(model.predict(archs), before)
        after = np.asarray(refitted.predict(archs))
        assert after.shape == before.shape and np.all(np.isfinite(after)) and np.all(after > 0)

    def test_state_restores_a_refitted_model(self, make_latency_model, archs, refit_inputs, tmp_path):
        train, measured = refit_inputs
        refitted = make_latency_model().refit(list(train), np.asarray(measured, dtype=np.float64), tmp_path)
        state = refitted.get_state()
        json.dumps(state)  # it goes into the checkpoint's JSON
        restored = make_latency_model()
        restored.set_state(state)
        np.testing.assert_allclose(restored.predict(archs), refitted.predict(archs), rtol=RTOL)


class LatencyMeasurerTestCase:
    """Tests of one device behind the search; needs the fixture ``make_measurer`` (a function
    returning a new, open measurer; kept cheap: small resolution, few runs)."""

    @pytest.fixture
    def arch(self):
        return SearchSpace.default().sample(1, seed=11)[0]

    def test_measure_gives_a_positive_latency_and_an_ordered_spread(self, make_measurer, arch):
        device = make_measurer()
        try:
            timing = device.measure(arch)
        finally:
            device.close()
        assert math.isfinite(timing.latency_ms) and timing.latency_ms > 0
        if timing.spread is not None:
            s = timing.spread
            assert 0 <= s["p10_ms"] <= s["p90_ms"] and s["cv"] >= 0 and s.get("runs", 1) >= 1
            json.dumps(s)  # it goes into measurements.jsonl

    def test_key_names_the_device_and_stays_the_same(self, make_measurer):
        device = make_measurer()
        try:
            key = device.key()
            assert isinstance(key, str) and key and device.key() == key
        finally:
            device.close()
