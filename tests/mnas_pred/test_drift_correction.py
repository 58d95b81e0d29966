"""Drift correction: interpolation between (smoothed) reference runs, flags, and the store's columns."""

from __future__ import annotations

import pandas as pd
import pytest

from mnas_pred.drift_correction import add_drift_correction, correction_summary
from mnas_pred.noise_floor import noise_floor, precision_ceiling, robust_sigma
from mnas_pred.store import MeasurementStore
from tests.mnas_pred.test_store import ARCHS, DEVICE, SETTINGS, measurement


def frame(refs: list[float], every: int, campaign="c1", slow=()) -> pd.DataFrame:
    rows = []
    for k, ref in enumerate(refs):
        for j in range(every):
            rows.append({"device": "d", "resolution": 224, "settings": "s", "latency_ms": 10.0, "drift_campaign": campaign,
                         "drift_reference": k, "drift_models_since": j, "drift_reference_ms": ref,
                         "drift_slow": k in slow})
    return pd.DataFrame(rows)


def test_interpolates_between_reference_runs_and_holds_after_the_last():
    # two reference runs: running median of 2 values is their mean at both ends -> flat;
    # three give a slope; the baseline is the median reference (5.0)
    out = add_drift_correction(frame([4.0, 5.0, 6.0], every=3))
    # smoothed levels (window of 5 centred, min 1): 5.0, 5.0, 5.0 for 3 values -> no change anywhere
    assert out["drift_factor"].tolist() == pytest.approx([1.0] * 9)
    out = add_drift_correction(frame([5.0] * 5 + [10.0] * 5, every=1))
    f = out["drift_factor"].tolist()
    # baseline = median of all = 7.5; ends: running medians 5 and 10
    assert f[0] == pytest.approx(5 / 7.5) and f[-1] == pytest.approx(10 / 7.5)
    assert f[3] < f[4] < f[5] == f[6]  # the step is interpolated inside the segment where it happens
    assert (out["latency_corrected_ms"] * out["drift_factor"]).tolist() == pytest.approx(out["latency_ms"].tolist())
    assert "drift_factor" in out.columns[out.columns.get_loc("latency_ms") + 1:][:3].tolist()


def test_interpolation_inside_a_segment_is_linear():
    refs = [4.0] * 3 + [8.0] * 3  # running medians of 5: 4, 4, 4, 8, 8, 8; baseline 6
    out = add_drift_correction(frame(refs, every=3))
    seg = out[out["drift_reference"] == 2]["drift_factor"].tolist()
    # inside segment 2 the level moves from 4 towards 8 in equal steps of 4 / (3 + 1)
    assert seg == pytest.approx([5 / 6, 6 / 6, 7 / 6])


def test_flags_slow_machine_jumps_and_marked_runs():
    out = add_drift_correction(frame([5.0] * 6 + [20.0] * 6, every=2, slow={9}))
    flags = out["drift_flag"].tolist()
    assert any("reference moved +300%" in f for f in flags)
    assert any("slower than usual" in f for f in flags) and any("marked slow" in f for f in flags)
    assert flags[0] == ""
    s = correction_summary(out)
    assert s["corrected"] == 24 and s["flagged"] > 0 and s["max_abs_change"] > 0.5


def test_rows_without_reference_runs_stay_raw():
    df = pd.DataFrame({"device": ["d"], "latency_ms": [3.0]})
    out = add_drift_correction(df)
    assert out["latency_corrected_ms"].tolist() == [3.0] and out["drift_factor"].isna().all()


def test_campaigns_share_one_baseline():
    both = pd.concat([frame([5.0] * 3, 2, "a"), frame([6.0] * 3, 2, "b")], ignore_index=True)
    out = add_drift_correction(both)
    fa = out[out["drift_campaign"] == "a"]["drift_factor"].unique()
    fb = out[out["drift_campaign"] == "b"]["drift_factor"].unique()
    assert fa == pytest.approx([5.0 / 5.5]) and fb == pytest.approx([6.0 / 5.5])


def test_store_exports_corrected_beside_raw(tmp_path):
    with MeasurementStore(tmp_path / "m.db") as store:
        for i, (arch, ref) in enumerate(zip(ARCHS, (5.0, 5.0, 10.0))):
            m = measurement(arch, 2.0)
            m.metadata["drift"] = {"campaign": "x", "reference": i, "models_since": 0, "reference_ms": ref,
                                   "reference_cv": 0.01, "slow": False}
            store.add(DEVICE, arch, 64, SETTINGS, m)
        frame_ = store.models_frame()
        recs = store.records()
    assert frame_["latency_corrected_ms"].notna().all() and frame_["drift_factor"].notna().all()
    assert recs[0]["latency_corrected_ms"] == pytest.approx(recs[0]["latency_ms"] / recs[0]["drift_factor"])


def test_noise_floor_statistics():
    assert robust_sigma([10.0] * 12) == 0 and precision_ceiling([10.0] * 12, 0.1) == 1.0
    wide = [10.0, 13.0, 7.0, 10.0, 12.5, 7.5, 10.0, 10.5, 9.5, 14.0, 6.0, 10.0]
    assert precision_ceiling(wide, 0.10) < precision_ceiling(wide, 0.30)
    assert noise_floor(wide)["n"] == 12 and noise_floor(wide)["mape_floor"] > 0.1


def test_noise_floor_from_back_to_back_processes_ignores_drift():
    from mnas_pred.noise_floor import groups_floor, within_group_sigma

    same = [[10.0, 10.0, 10.0], [20.0, 20.0, 20.0]]  # the machine doubled speed between runs: no noise
    assert within_group_sigma(same) == (0.0, 4)
    noisy = [[10.0, 11.0, 9.0], [20.0, 22.0, 18.0]]
    sigma, dof = within_group_sigma(noisy)
    assert dof == 4 and 0.05 < sigma < 0.15
    floor = groups_floor(noisy, "2 reference runs")
    assert floor["ceiling_within_10pct"] < 1 and floor["summary"].startswith("run-to-run spread")
    assert groups_floor([[10.0]], "x") == {}
