"""Latency predictors: LightGBM per-layer model with end-to-end calibration, and baselines."""
