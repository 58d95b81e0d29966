"""The vectorised drift correction equals the row-by-row formula it replaced (kept here as the
reference), on frames with several campaigns and devices, jumps, slow machines and marked runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mnas_pred.drift_correction import JUMP, SLOW, WINDOW, add_drift_correction, latest_factor


def row_by_row(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The formula as first written (one Python iteration per measurement)."""
    factor = pd.Series(np.nan, index=df.index)
    flag = pd.Series("", index=df.index, dtype=object)
    has = df["drift_reference_ms"].notna() & df["drift_campaign"].notna()
    keys = ["device", "resolution", "settings"]
    baseline = {}
    for key, g in df[has].groupby(keys, dropna=False, sort=False):
        baseline[key] = float(g.drop_duplicates(["drift_campaign", "drift_reference"])["drift_reference_ms"].median())
    for _c, g in df[has].groupby("drift_campaign", sort=False):
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
                level = lk + (refs[k + 1] - lk) * (j + 1) / (int(sizes[k]) + 1)
                if abs(raw[k + 1] / raw[k] - 1) > JUMP:
                    reasons.append(f"reference moved {raw[k + 1] / raw[k] - 1:+.0%} around it")
            else:
                level = lk
            f = level / baseline[tuple(row[c] for c in keys)]
            if f > SLOW:
                reasons.append(f"machine {f:.1f}x slower than usual")
            if k in slow_refs:
                reasons.append("reference run marked slow")
            factor[idx], flag[idx] = f, "; ".join(reasons)
    return factor, flag


def synthetic(n_campaigns: int, refs_per_campaign: int, seed: int = 0) -> pd.DataFrame:
    """Campaigns on two devices, uneven segments (a failed model: a gap), steps of the machine's
    speed, slow reference runs, and a few measurements without reference runs."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_campaigns):
        device = f"d{c % 2}"
        speed = 5.0 * (1 + c % 2)
        for k in range(refs_per_campaign):
            if rng.random() < 0.1:
                speed *= rng.choice([0.5, 1.6, 2.5])
            ref = speed * rng.lognormal(0, 0.05)
            slow = bool(rng.random() < 0.05)
            for j in range(int(rng.integers(1, 8))):
                rows.append({"device": device, "resolution": 224, "settings": "s", "latency_ms": float(rng.uniform(1, 50)),
                             "drift_campaign": f"c{c}", "drift_reference": k, "drift_models_since": j,
                             "drift_reference_ms": ref, "drift_slow": slow})
    for _ in range(5):
        rows.insert(int(rng.integers(0, len(rows))), {"device": "d0", "resolution": 224, "settings": "s",
                                                       "latency_ms": 3.0})
    return pd.DataFrame(rows)


def test_vectorised_equals_the_row_by_row_formula():
    df = synthetic(6, 30, seed=3)
    out = add_drift_correction(df)
    factor, flag = row_by_row(df)
    assert out["drift_factor"].isna().sum() == 5  # the measurements without reference runs stay raw
    np.testing.assert_array_equal(out["drift_factor"].to_numpy(), factor.to_numpy())
    assert out["drift_flag"].tolist() == flag.tolist()
    assert {"reference moved", "slower than usual", "marked slow"} <= {
        p for f in flag for p in ("reference moved", "slower than usual", "marked slow") if p in f}
    assert out["latency_corrected_ms"].to_numpy() == pytest.approx(df["latency_ms"] / factor.fillna(1.0))


def test_latest_factor_is_the_held_level_at_a_campaigns_end():
    refs = [5.0, 5.5, 4.8, 6.0, 9.0]
    df = pd.DataFrame([{"device": "d", "resolution": 1, "settings": "s", "latency_ms": 1.0, "drift_campaign": "c",
                        "drift_reference": k, "drift_models_since": 0, "drift_reference_ms": r, "drift_slow": False}
                       for k, r in enumerate(refs)])
    last = add_drift_correction(df)["drift_factor"].iloc[-1]
    assert latest_factor(refs, float(np.median(refs))) == pytest.approx(last)
    assert latest_factor([7.0]) == 1.0 and latest_factor([]) == 1.0
