"""The drift line of ``profile-device`` says what the number means and what was done about it."""

from mnas_pred.cli.profiling import drift_sentence


def test_drift_sentence_explains_the_number_and_the_action():
    text = drift_sentence({"after_models": 50, "latency_ms": 13.2, "ratio": 1.321}, every=25)
    assert text.startswith("drift of the reference model (MnasNet-B1, re-timed every 25 models): at most +32.1% "
                           "(after 50 models)")
    assert "slower than at the start" in text and "latency_corrected_ms" in text and "fit-predictor" in text
    slow = drift_sentence({"after_models": 50, "latency_ms": 13.2, "ratio": 1.321}, 25,
                          [{"after_models": 0, "slow": False}, {"after_models": 50, "slow": True}])
    assert "marked slow" in slow and "after 50 models" in slow.split("marked slow")[1]
    assert "\n" not in text
    assert "faster than at the start" in drift_sentence({"after_models": 25, "latency_ms": 9.0, "ratio": 0.9}, every=25)


def test_campaign_noise_floor_quotes_the_reference_runs():
    from mnas_pred.cli.profiling import campaign_noise_floor

    assert campaign_noise_floor([{"latency_ms": 5.0}, {"latency_ms": 5.1}]) == {}  # too few to say
    floor = campaign_noise_floor([{"latency_ms": v} for v in (5.0, 5.1, 4.9, 5.3)])
    assert floor["n"] == 4 and 0 < floor["spread"] < 0.1
    assert floor["summary"].startswith("run-to-run spread") and "4 reference runs of this campaign" in floor["summary"]
    grouped = campaign_noise_floor([{"latency_ms": 5.0, "process_ms": [5.0, 5.2, 4.9]},
                                    {"latency_ms": 7.0, "process_ms": [7.0, 7.1, 6.8]}])
    assert "processes back to back" in grouped["summary"] and grouped["spread"] < 0.05
    pooled = campaign_noise_floor([{"latency_ms": 5.0, "process_ms": [5.0, 5.2, 4.9]},
                                   {"latency_ms": 7.0, "process_ms": [7.0, 7.1, 6.8]}], repeats=3)
    assert pooled["pooled"]["repeats"] == 3 and pooled["pooled"]["mape_floor"] < pooled["mape_floor"]
    assert "with 3 processes per measurement" in pooled["summary"]
