"""Drift-corrected latencies from the periodic reference runs of a profiling campaign.

A campaign (one ``profile-device`` run, or one search's device measurements) times a reference
network before its first model, after every N models and once more after its last one
(``device_profiler.drift``); each reference run is stored in the store's ``reference_runs``
table (schema 3) and each measurement records the reference run it follows (``reference`` k,
its latency ``reference_ms`` L_k) and its position after it (``models_since`` j, 0-based). A
reference run is itself one measurement, with the device's run-to-run noise (5-10% on a loaded
2-core VM): dividing by it raw would add that noise to every value it corrects. So each
reference run's level S_k is the median of the reference runs k-2..k+2 of the campaign (fewer at
the ends), and the machine's speed at measurement (k, j) is interpolated linearly between S_k
and S_{k+1}:

    L(k, j) = S_k + (S_{k+1} - S_k) * (j + 1) / (n_k + 1)

where n_k is the number of measurements between the two reference runs. After the last
reference run of a campaign L_k is held (the final reference run after the last model makes
that rare). The correction factor is ``L(k, j) / B``, B being the median of all reference runs
of that device, resolution and settings across campaigns (the machine's usual speed; a resumed
campaign is then corrected to the same level), and

    latency_corrected_ms = latency_ms / (L(k, j) / B).

Where the reference runs come from: the ``reference_runs`` table where the caller passes it
(:meth:`mnas_pred.store.MeasurementStore.reference_runs_frame`, which adds, for campaigns of
older stores that are not in the table, the runs the measurements' metadata names), else the
measurements' own metadata (a bare frame).

``drift_flag`` says why a corrected value is less trustworthy: the two reference runs around it
differ by more than ``JUMP`` (the machine changed speed in between: the interpolation is a
guess), the machine was more than ``SLOW`` slower than usual, or a reference run was marked
slow while measuring. Measurements without reference runs keep their raw value (factor NaN).

A measurement taken now (a search's re-validation) knows only the reference runs so far:
:func:`latest_factor` is the same formula at the end of a campaign (S_k of the newest reference
run, held).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

JUMP = 0.20
SLOW = 1.5
WINDOW = 2  # reference runs on each side in the running median
COLUMNS = ("drift_campaign", "drift_reference", "drift_models_since", "drift_reference_ms", "drift_slow")
GROUP_KEYS = ("device", "runtime", "accelerator", "resolution", "settings")  # whose reference runs share a baseline
#: one row per reference run: campaign, reference (k), reference_ms, slow, and the GROUP_KEYS present
REFERENCE_COLUMNS = ("campaign", "reference", "reference_ms", "slow")


def levels(reference_ms: pd.Series) -> pd.Series:
    """S_k of one campaign's reference runs in order: the running median over k-2..k+2."""
    return reference_ms.rolling(2 * WINDOW + 1, center=True, min_periods=1).median()


def interpolated(level_k, level_next, j, n):
    """L(k, j) of the module docstring: the level of the (j+1)-th of ``n`` measurements between
    reference levels ``level_k`` and ``level_next`` (floats or arrays)."""
    return level_k + (level_next - level_k) * (j + 1) / (n + 1)


def latest_factor(reference_ms: Sequence[float], baseline_ms: float | None = None) -> float:
    """The drift factor of a measurement taken after the newest of a campaign's reference runs
    ``reference_ms`` (in order), before any later one exists: S_k of the newest run (the median
    of the last WINDOW + 1) over the baseline B. ``baseline_ms`` None: B is the median of these
    runs themselves (a campaign without earlier reference runs of its device, e.g. a search
    without a store: the factor follows the drift within the campaign, ≈1 on average)."""
    refs = pd.Series(reference_ms, dtype=float)
    if refs.empty:
        return 1.0
    baseline = float(refs.median()) if baseline_ms is None else float(baseline_ms)
    return float(levels(refs).iloc[-1]) / baseline


def references_from_metadata(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per reference run named by the measurements of ``frame`` (the store's models
    frame): what older stores know of their reference runs."""
    has = frame["drift_reference_ms"].notna() & frame["drift_campaign"].notna()
    g = frame[has]
    keys = [c for c in GROUP_KEYS if c in g]
    refs = g.drop_duplicates(["drift_campaign", "drift_reference"])[["drift_campaign", "drift_reference",
                                                                     "drift_reference_ms", *keys]]
    slow = g["drift_slow"].fillna(False).astype(bool).groupby([g["drift_campaign"], g["drift_reference"]]).any()
    refs = refs.rename(columns={"drift_campaign": "campaign", "drift_reference": "reference",
                                "drift_reference_ms": "reference_ms"})
    return refs.merge(slow.rename("slow").reset_index().rename(
        columns={"drift_campaign": "campaign", "drift_reference": "reference"}), on=["campaign", "reference"])


def _reference_table(refs: pd.DataFrame) -> pd.DataFrame:
    """Per reference run: its level S_k, the next run's raw and level (NaN after the last), and
    the baseline B of its group."""
    refs = refs.astype({"reference": "int64", "reference_ms": "float64"}).sort_values(["campaign", "reference"])
    refs = refs.drop_duplicates(["campaign", "reference"]).reset_index(drop=True)
    refs["level"] = refs.groupby("campaign", sort=False)["reference_ms"].transform(levels)
    keys = [c for c in GROUP_KEYS if c in refs]
    if keys:
        refs["baseline"] = refs.groupby(keys, dropna=False, sort=False)["reference_ms"].transform("median")
    else:
        refs["baseline"] = refs["reference_ms"].median()
    # every row of a campaign compares with its campaign's baseline (the group of its first run)
    refs["baseline"] = refs.groupby("campaign", sort=False)["baseline"].transform("first")
    nxt = refs[["campaign", "reference", "reference_ms", "level"]].rename(
        columns={"reference_ms": "next_ms", "level": "next_level"})
    nxt["reference"] -= 1
    return refs.merge(nxt, on=["campaign", "reference"], how="left")


def add_drift_correction(frame: pd.DataFrame, reference_runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """``frame`` (the store's models frame with the :data:`COLUMNS`) with ``drift_factor``,
    ``latency_corrected_ms`` and ``drift_flag`` added after ``latency_ms``. ``reference_runs``
    (:data:`REFERENCE_COLUMNS` and the group keys; the store's) replaces, for the campaigns it
    has, the reference runs the measurements name: it also has the runs no measurement follows
    (a campaign's last)."""
    df = frame.copy()
    factor = np.full(len(df), np.nan)
    flag = np.full(len(df), "", dtype=object)
    if all(c in df for c in COLUMNS) and df["drift_reference_ms"].notna().any():
        refs = references_from_metadata(df)
        if reference_runs is not None:  # the stored runs where a campaign has them, else its measurements'
            refs = pd.concat([reference_runs, refs[~refs["campaign"].isin(reference_runs["campaign"])]],
                             ignore_index=True)
        has = (df["drift_reference_ms"].notna() & df["drift_campaign"].notna()).to_numpy()
        rows = pd.DataFrame({"campaign": df["drift_campaign"].to_numpy()[has],
                             "reference": df["drift_reference"].to_numpy()[has].astype("int64"),
                             "j": df["drift_models_since"].to_numpy()[has].astype("float64")})
        rows["n"] = rows.groupby(["campaign", "reference"], sort=False)["j"].transform("max") + 1
        m = rows.merge(_reference_table(refs), on=["campaign", "reference"], how="left")
        known = m["level"].notna().to_numpy()  # a measurement whose reference run is missing stays raw
        lk, nxt = m["level"].to_numpy(), m["next_level"].to_numpy()
        level = np.where(np.isnan(nxt), lk, interpolated(lk, nxt, m["j"].to_numpy(), m["n"].to_numpy()))
        f = level / m["baseline"].to_numpy()
        moved = m["next_ms"].to_numpy() / m["reference_ms"].to_numpy() - 1
        moved_flag = np.abs(moved) > JUMP
        slow_flag = m["slow"].fillna(False).astype(bool).to_numpy()
        joined = np.full(len(m), "", dtype=object)
        for i in np.flatnonzero(moved_flag | (f > SLOW) | slow_flag):  # flagged rows are few: text per row
            joined[i] = "; ".join(r for r, on in ((f"reference moved {moved[i]:+.0%} around it", moved_flag[i]),
                                                  (f"machine {f[i]:.1f}x slower than usual", f[i] > SLOW),
                                                  ("reference run marked slow", slow_flag[i])) if on)
        idx = np.flatnonzero(has)[known]
        factor[idx] = f[known]
        flag[idx] = joined[known]
    at = df.columns.get_loc("latency_ms") + 1
    df.insert(at, "latency_corrected_ms", df["latency_ms"] / np.where(np.isnan(factor), 1.0, factor))
    df.insert(at + 1, "drift_factor", factor)
    df.insert(at + 2, "drift_flag", pd.Series(flag, index=df.index, dtype=object))
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
