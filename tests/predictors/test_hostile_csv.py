"""Hostile per-layer measurement CSVs (issue 12): each refused by ``fit-predictor`` with one
line naming the row, exit 2, and no predictor file written."""

from __future__ import annotations

import pytest

from tests.hostile import refused_by_subprocess, refused_in_process

HEADER = "device,op,kernel,stride,in_h,in_w,cin,cout,latency_ms\n"
GOOD = "pixel,conv,3,1,8,8,3,16,1.0\n"

ROWS = {
    "latency_inf": ("pixel,conv,3,1,8,8,3,16,inf", "latency_ms must be a non-negative number"),
    "latency_1e308": ("pixel,conv,3,1,8,8,3,16,1e308", "latency_ms must be a non-negative number"),
    "latency_nan": ("pixel,conv,3,1,8,8,3,16,nan", "latency_ms must be a non-negative number"),
    "latency_negative": ("pixel,conv,3,1,8,8,3,16,-2", "latency_ms must be a non-negative number"),
    "latency_text": ("pixel,conv,3,1,8,8,3,16,fast", "latency_ms must be a non-negative number"),
    "cin_text": ("pixel,conv,3,1,8,8,abc,16,1.0", "cin must be a whole number"),
    "cin_zero": ("pixel,conv,3,1,8,8,0,16,1.0", "cin must be at least 1"),
    "cin_1e12": ("pixel,conv,3,1,8,8,1000000000000,16,1.0", "cin must be at most 8192"),
    "cin_fraction": ("pixel,conv,3,1,8,8,3.5,16,1.0", "cin must be a whole number"),
    "cout_huge": ("pixel,conv,3,1,8,8,3,9000,1.0", "cout 9000 must be at most 8192"),
    "op_teleport": ("pixel,teleport,3,1,8,8,3,16,1.0", "op must be"),
    "kernel_negative": ("pixel,conv,-3,1,8,8,3,16,1.0", "kernel must be at least 1"),
    "kernel_even_conv": ("pixel,conv,4,1,8,8,3,16,1.0", "must be odd"),
    "kernel_missing_conv": ("pixel,conv,,1,8,8,3,16,1.0", "needs a kernel"),
    "stride_zero": ("pixel,conv,3,0,8,8,3,16,1.0", "stride must be at least 1"),
    "stride_three_conv": ("pixel,mbconv,3,3,8,8,3,16,1.0", "stride 3 of a mbconv layer"),
    "in_h_empty": ("pixel,conv,3,1,,8,3,16,1.0", "needs in_h and in_w"),
    "in_h_huge": ("pixel,conv,3,1,100000,8,3,16,1.0", "in_h must be at most"),
    "device_empty": (",conv,3,1,8,8,3,16,1.0", "device"),
}


def _csv(tmp_path, row):
    f = tmp_path / "t.csv"
    f.write_text(HEADER + GOOD + row + "\n")
    return f


@pytest.mark.parametrize("name", sorted(ROWS))
def test_hostile_csv_row_is_one_line(tmp_path, capsys, name):
    row, fragment = ROWS[name]
    f = _csv(tmp_path, row)
    line = refused_in_process(capsys, ["fit-predictor", "--out", tmp_path / "x.pred", "--measurements", f, "--folds", "0"],
                              fragment, folder=tmp_path)
    assert "line 3" in line  # names the row (line 1 is the header)


def test_optional_columns_are_checked_too(tmp_path, capsys):
    f = tmp_path / "t.csv"
    f.write_text("device,op,kernel,stride,in_h,in_w,cin,cout,expansion,se_ratio,skip,groups,latency_ms\n"
                 "pixel,mbconv,3,1,8,8,16,16,6,0,none,1,1.0\n"
                 "pixel,mbconv,3,1,8,8,16,16,6,0.5,sideways,1,1.0\n")
    refused_in_process(capsys, ["fit-predictor", "--out", tmp_path / "x.pred", "--measurements", f, "--folds", "0"],
                       "line 3: skip must be", folder=tmp_path)


def test_a_hostile_csv_in_a_real_process(tmp_path):
    f = _csv(tmp_path, ROWS["latency_1e308"][0])
    refused_by_subprocess(["fit-predictor", "--out", tmp_path / "x.pred", "--measurements", f, "--folds", "0"],
                          "line 3: latency_ms", folder=tmp_path)
