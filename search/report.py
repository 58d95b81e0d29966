"""What a search's numbers mean, said in its results: the labels of ``summary.json``, the plots'
subtitles and the closing text.

A search's "accuracy" is proxy accuracy (a few epochs on a small task at a small resolution)
while its latency is at the deployment resolution; a measured latency is the median of many
timed runs whose spread (p10/p90, coefficient of variation) says how far a re-measurement may
land. These labels keep the three apart everywhere a number is shown.
"""

from __future__ import annotations

import numpy as np

from search.references import comparison_sentence, comparisons, refresh_predictions

# Within one measurement the timed runs share a process; separate processes on a shared machine
# differed by 10-15% on the development machine (device_profiler.protocol), so say so.
SPREAD_CAVEAT = ("spread within one measurement (p10-p90 of its timed runs); separate measurements on a busy "
                 "machine can differ by more")
REWARD_NOTE = ("history.csv and reward.png score each candidate with the latency known when it was drawn "
               "(predicted unless measured by then); 'best' here is re-scored with measured latency where there is one")


def proxy_task(kind: str, data=None, data_spec=None, train=None) -> dict:
    """The proxy task behind the accuracies: dataset, epochs, training resolution, split sizes."""
    if kind != "proxy":
        return {"kind": kind, "label": "analytic surrogate accuracy (no training)", "short": "analytic surrogate"}
    res = int(data.train_x.shape[-1])
    n_train, n_val = len(data.train_y), len(data.val_y)
    epochs = f"{train.epochs} epoch{'s' if train.epochs != 1 else ''}"
    return {
        "kind": "proxy", "dataset": data_spec.dataset, "epochs": train.epochs, "train_resolution": res,
        "train_images": n_train, "val_images": n_val, "classes": data.num_classes,
        "label": f"{data_spec.dataset}, {epochs} at {res} px, {n_train} training / {n_val} validation images",
        "short": f"{data_spec.dataset}, {epochs}, {res} px",
    }


def latency_setup(resolution: int, source: str, device_key: str | None, measure: dict) -> dict:
    """Where latencies come from: resolution, device, predictor or measured, runs per measurement."""
    runs = measure.get("runs", 50)
    where = f"measured on {device_key}" if device_key else "no device"
    if source == "predictor":
        label = f"ms at {resolution} px, predicted" + (f"; re-validated candidates {where}" if device_key else "")
    else:
        label = f"ms at {resolution} px, {where}"
    return {"resolution": resolution, "source": source, "device": device_key,
            "runs_per_measurement": runs if device_key else None, "label": label}


def device_spread(spreads: list[dict]) -> dict | None:
    """Summary of the per-measurement spreads of this search (candidates and references)."""
    spreads = [s for s in spreads if s]
    if not spreads:
        return None
    cv = np.array([s["cv"] for s in spreads])
    band = np.array([(s["p90_ms"] - s["p10_ms"]) / 2 for s in spreads])
    mid = np.array([(s["p90_ms"] + s["p10_ms"]) / 2 for s in spreads])
    return {"measurements": len(spreads), "median_cv": round(float(np.median(cv)), 4),
            "max_cv": round(float(cv.max()), 4),
            "median_p10_p90_half_width_pct": round(float(np.median(100 * band / mid)), 2),
            "note": SPREAD_CAVEAT}


def result_labels(search, best: dict | None) -> dict:
    """What :meth:`search.runner.Search.finish` adds to ``summary.json``: the proxy task, the
    latency setup, the device spread, the references and the best against each of them. Adds the
    best's own spread to ``best`` where it was measured."""
    from search.accuracy import ProxyTrainer

    c, oracle = search.config, search.oracle
    ev = search.accuracy_eval
    proxy = (proxy_task("proxy", ev.data, c.data, c.train) if isinstance(ev, ProxyTrainer) else proxy_task(c.accuracy))
    device_key = oracle.device.key() if oracle.device is not None else None
    latency = latency_setup(search.resolution, "predictor" if oracle.uses_predictor else "device", device_key,
                            c.measure)
    spreads = oracle.cache.spreads
    if best is not None and best["latency_source"] == "measured" and best["arch"] in spreads:
        best["latency_spread"] = spreads[best["arch"]]
    refs = getattr(search, "references", [])
    refresh_predictions(refs, oracle)
    return {
        "proxy_task": proxy, "latency_measurement": latency,
        "device_spread": device_spread(list(spreads.values()) + [r.get("latency_spread") for r in refs]),
        "references": refs, "best_vs_references": comparisons(best, refs),
        "reward_note": REWARD_NOTE if oracle.uses_predictor else None,
    }


def spread_text(s: dict | None) -> str:
    return f" (p10-p90 {s['p10_ms']:.2f}-{s['p90_ms']:.2f} ms, CV {100 * s['cv']:.1f}%)" if s else ""


def subtitle(summary: dict) -> str:
    """The lines under each plot: the proxy task, the latency setup, the device spread."""
    parts = [f"proxy: {summary['proxy_task']['label']}", f"latency: {summary['latency_measurement']['label']}"]
    spread = summary.get("device_spread")
    if spread:
        parts.append(f"device spread: median CV {100 * spread['median_cv']:.1f}% over {spread['measurements']} "
                     "measurements")
    return "\n".join(parts)


def closing_lines(summary: dict) -> list[str]:
    """The text printed after a search: counts, the best network with its labels, the references,
    and the best against each reference."""
    s = summary
    lines = [
        f"{s['samples']} candidates ({s['distinct_architectures']} distinct) in {s['elapsed_s']:.0f} s; "
        f"latency from the {s['latency']}, {s['device_measurements']} device measurements, "
        f"{s['predictor_refits']} predictor refits; Pareto front {s['pareto_size']} models, "
        f"{s['under_target']} under {s['target_ms']:g} ms",
        f"proxy accuracy: {s['proxy_task']['label']}; latency: {s['latency_measurement']['label']}",
    ]
    best = s.get("best")
    if best:
        lines.append(f"best: reward {best['reward']:.4f}, proxy accuracy {best['accuracy']:.4f}, "
                     f"{best['latency_ms']:.2f} ms {best['latency_source']}{spread_text(best.get('latency_spread'))}")
        lines.append(best["arch"])
    refs = s.get("references") or []
    if refs:
        lines.append("references (same proxy training):")
        width = max(len(r["display_name"]) for r in refs)
        for r in refs:
            cost = (f"trained in {r['train_s']:.1f} s" + (f", measured in {r['measure_s']:.1f} s"
                                                          if r["latency_source"] == "measured" else "")
                    + (" (in the run before --resume; reused)" if r.get("cached") else ""))
            pred = (f", predicted {r['predicted_latency_ms']:.2f} ms" if r["latency_source"] == "measured"
                    and r.get("predicted_latency_ms") is not None else "")
            lines.append(f"  {r['display_name']:<{width}}  proxy accuracy {r['accuracy']:.4f}, {r['latency_ms']:.2f} ms "
                         f"{r['latency_source']}{spread_text(r.get('latency_spread'))}{pred}; {cost}")
        by_name = {r["display_name"]: r for r in refs}
        for c in s.get("best_vs_references", []):
            lines.append(comparison_sentence(c, best["latency_source"], by_name[c["reference"]]["latency_source"]))
    spread = s.get("device_spread")
    if spread:
        lines.append(f"device spread: median CV {100 * spread['median_cv']:.1f}% (max {100 * spread['max_cv']:.1f}%) "
                     f"over {spread['measurements']} measurements; {spread['note']}")
    if s["latency"] == "predictor":
        lines.append(f"note: {REWARD_NOTE}")
    return lines
