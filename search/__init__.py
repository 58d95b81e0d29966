"""MnasNet search: controller, PPO, reward, strategies, accuracy and latency oracles.

Public API::

    from search.runner import SearchConfig, Search, run_search     # the loop and results folder
    from search.strategies import make_strategy, Strategy            # ask/tell: ppo, random, evolution
    from search.reward import RewardFunction                         # ACC * (LAT/T)^w
    from search.accuracy import ProxyTrainer, TrainSettings          # proxy training, per-arch cache
    from search.data import DataSpec, load_proxy_data                # digits, cifar10, imagefolder
    from search.latency import LatencyOracle, RevalidationPolicy     # predictor + device re-validation
    from search.evaluator import Evaluator, SerialEvaluator, ProcessPoolEvaluator
    from search.checkpoint import save_state, load_state             # npz + JSON, never pickle

``run_search(SearchConfig(out_dir=..., target_ms=...))`` is what ``mnas-pred search`` calls.
"""
