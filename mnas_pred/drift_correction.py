"""Drift-corrected latencies from the periodic reference runs of a profiling campaign.

A campaign (one ``profile-device`` run) times a reference network before its first model and
after every N models (``device_profiler.drift``); each measurement records the reference run it
follows (``reference`` k, its latency ``reference_ms`` L_k) and its position after it
(``models_since`` j, 0-based). A reference run is itself one measurement, with the device's
run-to-run noise (5-10% on a loaded 2-core VM): dividing by it raw would add that noise to every
value it corrects. So each reference run's level S_k is the median of the reference runs k-2..k+2
of the campaign (fewer at the ends), and the machine's speed at measurement (k, j) is
interpolated linearly between S_k and S_{k+1}:

    L(k, j) = S_k + (S_{k+1} - S_k) * (j + 1) / (n_k + 1)

where n_k is the number of measurements between the two reference runs. After the last
reference run of a campaign L_k is held. The correction factor is ``L(k, j) / B``, B being the
median of all reference runs of that device, resolution and settings across campaigns (the
machine's usual speed; a resumed campaign is then corrected to the same level), and

    latency_corrected_ms = latency_ms / (L(k, j) / B).

``drift_flag`` says why a corrected value is less trustworthy: the two reference runs around it
differ by more than ``JUMP`` (the machine changed speed in between: the interpolation is a
guess), the machine was more than ``SLOW`` slower than usual, or a reference run was marked
slow while measuring. Measurements without reference runs keep their raw value (factor NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

JUMP = 0.20
SLOW = 1.5
WINDOW = 2  # reference runs on each side in the running median
COLUMNS = ("drift_campaign", "drift_reference", "drift_models_since", "drift_reference_ms", "drift_slow")


def add_drift_correction(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (the store's models frame with the :data:`COLUMNS`) with ``drift_factor``,
    ``latency_corrected_ms`` and ``drift_flag`` added after ``latency_ms``."""
    df = frame.copy()
    factor = pd.Series(np.nan, index=df.index)
    flag = pd.Series("", index=df.index, dtype=object)
    if all(c in df for c in COLUMNS) and df["drift_reference_ms"].notna().any():
        has = df["drift_reference_ms"].notna() & df["drift_campaign"].notna()
        group_keys = [c for c in ("device", "runtime", "accelerator", "resolution", "settings") if c in df]
        baseline = {}
        for key, g in df[has].groupby(group_keys, dropna=False, sort=False):
            # one value per reference run (each is repeated on every measurement after it)
            refs = g.drop_duplicates(["drift_campaign", "drift_reference"])["drift_reference_ms"]
            baseline[key if isinstance(key, tuple) else (key,)] = float(refs.median())
        for _campaign, g in df[has].groupby("drift_campaign", sort=False):
            raw = g.drop_duplicates("drift_reference").set_index("drift_reference")["drift_reference_ms"].astype(float)
            raw = raw.sort_index()
            refs = raw.rolling(2 * WINDOW + 1, center=True, min_periods=1).median()
            sizes = g.groupby("drift_reference")["drift_models_since"].max() + 1
            slow_refs = set(g.loc[g["drift_slow"].fillna(False).astype(bool), "drift_reference"])
            for idx, row in g.iterrows():
                k, j = int(row["drift_reference"]), int(row["drift_models_since"])
                lk = refs[k]
                reasons = []
                if k + 1 in refs.index:
                    nxt = refs[k + 1]
                    level = lk + (nxt - lk) * (j + 1) / (int(sizes[k]) + 1)
                    if abs(raw[k + 1] / raw[k] - 1) > JUMP:
                        reasons.append(f"reference moved {raw[k + 1] / raw[k] - 1:+.0%} around it")
                else:
                    level = lk
                key = tuple(row[c] for c in group_keys)
                f = level / baseline[key]
                if f > SLOW:
                    reasons.append(f"machine {f:.1f}x slower than usual")
                if k in slow_refs:
                    reasons.append("reference run marked slow")
                factor[idx] = f
                flag[idx] = "; ".join(reasons)
    at = df.columns.get_loc("latency_ms") + 1
    df.insert(at, "latency_corrected_ms", df["latency_ms"] / factor.fillna(1.0))
    df.insert(at + 1, "drift_factor", factor)
    df.insert(at + 2, "drift_flag", flag)
    return df


def correction_summary(frame: pd.DataFrame) -> dict:
    """How much the correction moved the latencies (for reports): measurements corrected,
    median and largest |factor - 1|, flagged count and the flags' reasons."""
    if "drift_factor" not in frame:
        return {"corrected": 0}
    f = frame["drift_factor"].dropna()
    flags = frame["drift_flag"].fillna("").astype(str)  # rows appended without the column: NaN
    flagged = flags[flags != ""]
    return {
        "corrected": int(f.size),
        "uncorrected": int(len(frame) - f.size),
        "median_abs_change": float((f - 1).abs().median()) if f.size else 0.0,
        "max_abs_change": float((f - 1).abs().max()) if f.size else 0.0,
        "factor_range": [float(f.min()), float(f.max())] if f.size else [],
        "flagged": int(flagged.size),
        "flags": sorted(set(flagged)),
    }
