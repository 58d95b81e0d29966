"""Per-layer features: one vectorized path for profiled layers and external CSV rows."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnas_pred.errors import MnasPredError
from mnas_pred.features import FEATURE_COLUMNS, layer_features, layers_frame, read_layer_csv
from mnas_pred.layers import arch_layers
from mnas_pred.space import SearchSpace

REFERENCE_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "hwnasbench_fbnet_ops.csv"


def test_features_of_many_architectures_match_the_analytic_counts():
    archs = SearchSpace.default().sample(40, seed=0)
    frame = layers_frame(archs, resolution=224)
    feats = layer_features(frame)
    assert list(feats.columns) == list(FEATURE_COLUMNS)
    assert len(feats) == sum(len(arch_layers(a)) for a in archs)
    assert (feats["macs"].to_numpy() == frame["macs"].to_numpy()).all()
    assert (feats["params"].to_numpy() == frame["params"].to_numpy()).all()
    assert np.isfinite(feats.to_numpy(dtype=float)).all()


def test_mbconv_features_describe_the_bottleneck():
    row = pd.DataFrame([dict(op="mbconv", kernel=5, stride=2, expansion=6, se_ratio=0.25, skip="none",
                             in_h=56, in_w=56, cin=24, cout=40)])
    f = layer_features(row).iloc[0]
    assert (f["out_h"], f["mid"]) == (28, 144)
    assert f["in_bytes"] == 24 * 56 * 56 * 4
    assert f["mid_bytes"] == 144 * (56 * 56 + 28 * 28) * 4
    assert f["macs"] == 24 * 144 * 56 * 56 + 25 * 144 * 28 * 28 + 144 * 40 * 28 * 28 + 2 * 144 * 6


@pytest.mark.skipif(not REFERENCE_CSV.exists(), reason="shared reference data not present")
def test_reference_csv_reads_with_extra_columns_and_blank_values():
    df = read_layer_csv(REFERENCE_CSV)
    assert {"groups", "input_set"} <= set(df.columns)  # extra columns kept
    feats = layer_features(df)
    assert len(feats) == len(df) == 675
    assert np.isfinite(feats.to_numpy(dtype=float)).all()
    linear = feats[df["op"] == "linear"].iloc[0]
    assert linear["macs"] == df[df["op"] == "linear"].iloc[0][["cin", "cout"]].prod()
    grouped = df[(df["op"] == "mbconv") & (df["groups"] == 2)]
    assert len(grouped) and (layer_features(grouped)["macs"] < layer_features(grouped.assign(groups=1))["macs"]).all()


def test_fractional_expansions_from_other_tools_are_accepted():
    row = pd.DataFrame([dict(op="mbconv", kernel=3, stride=1, expansion=0.5, in_h=8, in_w=8, cin=64, cout=64)])
    assert layer_features(row)["mid"].iloc[0] == 32


def test_csv_missing_a_column(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("device,op,kernel,stride,in_h,in_w,cin,cout\npixel,conv,3,1,8,8,3,16\n")
    with pytest.raises(MnasPredError, match="lacks column\\(s\\) latency_ms"):
        read_layer_csv(p)


def test_csv_bad_latency(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("device,op,kernel,stride,in_h,in_w,cin,cout,latency_ms\npixel,conv,3,1,8,8,3,16,fast\n")
    with pytest.raises(MnasPredError, match="line 2: latency_ms must be a non-negative number"):
        read_layer_csv(p)
