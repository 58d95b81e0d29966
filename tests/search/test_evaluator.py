"""The accuracy suites (mnas_pred.testing.evaluator) for the analytic and proxy accuracies and for
the serial and process-pool evaluators (the Ray evaluator runs them in test_ray.py)."""

import pytest

from mnas_pred.testing.evaluator import AccuracyEvaluatorTestCase, EvaluatorTestCase
from search.accuracy import AnalyticAccuracy, ProxyTrainer, TrainSettings
from search.data import DataSpec
from search.evaluator import AccuracySpec, ProcessPoolEvaluator, SerialEvaluator
from search.evaluator_factory import make_evaluator

# real proxy training, kept cheap: 64 digits at 16x16, one epoch
PROXY = AccuracySpec("proxy", DataSpec("digits", resolution=16, train_limit=64, val_limit=100),
                     TrainSettings(epochs=1, batch_size=16), seed=0)


class TestAccuracyEvaluators(AccuracyEvaluatorTestCase):
    @pytest.fixture(params=["analytic", "proxy"])
    def make_accuracy_evaluator(self, request):
        if request.param == "analytic":
            return lambda: AnalyticAccuracy(seed=3)
        return lambda: ProxyTrainer(PROXY.data, PROXY.train, PROXY.seed)


class TestEvaluators(EvaluatorTestCase):
    @pytest.fixture
    def expected_accuracy(self):
        return AnalyticAccuracy(seed=0).accuracy

    @pytest.fixture(params=["serial", "process-pool"])
    def make_evaluator(self, request):
        spec = AccuracySpec("analytic")
        if request.param == "serial":
            return lambda: SerialEvaluator(spec.build())
        return lambda: ProcessPoolEvaluator(spec, workers=2)


def test_the_factory_picks_by_the_settings():
    spec = AccuracySpec("analytic")
    with make_evaluator(spec, workers=1) as serial:
        assert isinstance(serial, SerialEvaluator)
    with make_evaluator(spec, workers=2) as pool:
        assert isinstance(pool, ProcessPoolEvaluator) and pool.workers == 2
