"""The contracts of the search's accuracy side, as pytest suites a plug-in author runs against a
new implementation:

* :class:`AccuracyEvaluatorTestCase`: one architecture → an accuracy in [0, 1], deterministic,
  with a fingerprint that keys the accuracy cache (``search.accuracy.AccuracyEvaluator``);
* :class:`EvaluatorTestCase`: a batch of candidates → their accuracies in the order given, each
  reported once as it arrives (``search.evaluator.Evaluator``: in-process, worker processes, Ray).

Written like Optuna's ``optuna/testing/pytest_storages.py``: subclass a suite in a test module
and define the fixtures it asks for::

    import pytest
    from mnas_pred.testing.evaluator import EvaluatorTestCase

    @pytest.fixture
    def make_evaluator():
        return lambda: MyClusterEvaluator(...)

    @pytest.fixture
    def expected_accuracy():
        return MyAccuracy().accuracy   # what one candidate scores, evaluated alone

    class TestMyEvaluator(EvaluatorTestCase):
        pass

Optional fixture: ``candidates`` (architecture strings; default: four networks of the paper's
space). The project's own tests run the suites for the analytic and proxy accuracies and the
serial, process-pool and Ray evaluators. This module imports only the core and pytest.
"""

from __future__ import annotations

import json
import math

import pytest

from mnas_pred.arch import parse_arch
from mnas_pred.space import SearchSpace


class _Candidates:
    @pytest.fixture
    def candidates(self) -> list[str]:
        return [a.to_string() for a in SearchSpace.default().sample(4, seed=21)]


class AccuracyEvaluatorTestCase(_Candidates):
    """Tests of one accuracy evaluator; needs the fixture ``make_accuracy_evaluator`` (a function
    returning a new evaluator with fixed settings)."""

    def test_accuracy_is_a_fraction(self, make_accuracy_evaluator, candidates):
        ev = make_accuracy_evaluator()
        acc = ev.accuracy(parse_arch(candidates[0]))
        assert isinstance(acc, float) and math.isfinite(acc) and 0 <= acc <= 1

    def test_same_candidate_same_accuracy_in_another_instance(self, make_accuracy_evaluator, candidates):
        arch = parse_arch(candidates[1])
        assert make_accuracy_evaluator().accuracy(arch) == make_accuracy_evaluator().accuracy(arch)

    def test_fingerprint_is_json_and_stable(self, make_accuracy_evaluator):
        a, b = make_accuracy_evaluator().fingerprint(), make_accuracy_evaluator().fingerprint()
        assert isinstance(a, dict) and json.loads(json.dumps(a)) == a == b

    def test_num_classes_is_positive(self, make_accuracy_evaluator):
        assert make_accuracy_evaluator().num_classes() >= 1


class EvaluatorTestCase(_Candidates):
    """Tests of one batch evaluator; needs the fixtures ``make_evaluator`` (a function returning a
    new evaluator) and ``expected_accuracy`` (``Architecture -> float``: the accuracy of one
    candidate evaluated alone in this process)."""

    def test_results_come_back_in_the_order_given(self, make_evaluator, expected_accuracy, candidates):
        with make_evaluator() as ev:
            got = ev.evaluate(candidates)
        assert got == [expected_accuracy(parse_arch(a)) for a in candidates]

    def test_each_result_is_reported_once_as_it_arrives(self, make_evaluator, candidates):
        seen = []
        with make_evaluator() as ev:
            got = ev.evaluate(candidates, on_result=lambda arch, acc: seen.append((arch, acc)))
        assert sorted(seen) == sorted(zip(candidates, got))

    def test_an_empty_batch_is_empty(self, make_evaluator):
        with make_evaluator() as ev:
            assert ev.evaluate([]) == []

    def test_several_batches_in_one_evaluator(self, make_evaluator, candidates):
        with make_evaluator() as ev:
            first = ev.evaluate(candidates[:2])
            second = ev.evaluate(candidates[2:])
            assert ev.evaluate(candidates) == first + second
