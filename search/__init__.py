"""MnasNet search: controller, PPO, reward, strategies, accuracy and latency oracles.

Public API::

    from search.runner import SearchConfig, Search, run_search     # the loop (callbacks after each update)
    from search.strategies import make_strategy, Strategy            # ask/tell: ppo, random, evolution
    from search.reward import RewardFunction                         # ACC * (LAT/T)^w
    from search.accuracy import ProxyTrainer, TrainSettings          # proxy training
    from search.data import DataSpec, load_proxy_data                # digits, cifar10, imagefolder
    from search.latency import LatencyModel, LatencyMeasurer         # the two latency protocols
    from search.oracle import LatencyOracle                          # predictor + device
    from search.revalidation import Revalidation, RevalidationPolicy # the re-validation callback
    from search.evaluator import Evaluator, SerialEvaluator, ProcessPoolEvaluator
    from search.evaluator_factory import make_evaluator              # serial, processes or Ray
    from search.caches import AccuracyCache, MeasurementCache        # the JSON-lines logs
    from search.checkpoint import save_state, load_state             # npz + JSON, never pickle

Conformance suites for new strategies, latency models, devices and evaluators:
:mod:`mnas_pred.testing.strategy`, :mod:`mnas_pred.testing.latency_model`,
:mod:`mnas_pred.testing.evaluator`.

``run_search(SearchConfig(out_dir=..., target_ms=...))`` is what ``mnas-pred search`` calls.
"""
