"""Which networks of an evaluation were in a predictor's training data.

A predictor file lists the networks it was trained on as SHA-256 hashes
(``payload["training_data"]["arch_sha256"]``): the hash of each network's model key
``ARCH@RESOLUTION``, the unit that cross-validation splits on (the same architecture at another
input size has other layer shapes and is another network). Hashes rather than the strings: a
file fitted on 1,000 networks stays small, and nothing is lost, since the question is only "was
this one seen". ``evaluate-predictor`` uses them to score a predictor on the networks it has
not seen: two profiling runs with the same seed sample the same architectures, and a predictor
scored on its own training data reports near-perfect accuracy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from predictors.data import TrainingData


def network_hash(model_key: str) -> str:
    return hashlib.sha256(model_key.encode("utf-8")).hexdigest()


def training_network_hashes(data: TrainingData) -> list[str] | None:
    """Sorted hashes of the distinct networks in ``data`` (empty for per-layer CSVs); ``None`` when
    there are more than a predictor file may list (the overlap then goes unchecked, as for an
    older file)."""
    from predictors.schema import MAX_ARCH_HASHES

    if not data.has_models:
        return []
    hashes = sorted({network_hash(str(k)) for k in data.models["model_key"].unique()})
    return hashes if len(hashes) <= MAX_ARCH_HASHES else None


@dataclass
class Overlap:
    networks: int  # distinct networks of the evaluation data
    seen: int  # of them, in the predictor's training data
    checked: bool  # False: the predictor file has no hashes (older file), or the data has no networks
    shared_sources: list[str]  # per-layer CSV files the predictor was also trained on

    def as_dict(self) -> dict:
        return {"networks": self.networks, "in_training_data": self.seen, "checked": self.checked,
                "shared_sources": self.shared_sources}


def split_seen(training_summary: dict, data: TrainingData) -> tuple[TrainingData, Overlap]:
    """``data`` without the networks the predictor was trained on, and what was removed. When
    every network was seen, the data is returned whole (the metrics then measure fit, and the
    warning says so)."""
    hashes = training_summary.get("arch_sha256")
    if not data.has_models:  # per-layer CSV rows belong to no network: a file trained on is what can be told
        same_device = set(map(str, training_summary.get("devices", []))) & set(data.devices)
        shared = sorted(set(map(str, training_summary.get("sources", []))) & set(map(str, data.sources))
                        if same_device else [])
        return data, Overlap(0, 0, False, shared)
    if not isinstance(hashes, list):
        return data, Overlap(int(data.models["model_key"].nunique()), 0, False, [])
    known = set(hashes)
    keys = [str(k) for k in data.models["model_key"].unique()]
    unseen = [k for k in keys if network_hash(k) not in known]
    overlap = Overlap(len(keys), len(keys) - len(unseen), True, [])
    if overlap.seen == 0 or not unseen:
        return data, overlap
    return data.subset_models(unseen), overlap


def overlap_warnings(overlap: Overlap) -> list[str]:
    out = []
    if overlap.checked and overlap.seen:
        if overlap.seen == overlap.networks:
            out.append(f"all {overlap.networks} networks of this data were in the predictor's training data: the "
                       "metrics measure how well it fits them, not its accuracy on new networks (profile others, "
                       "e.g. with another --seed)")
        else:
            out.append(f"{overlap.seen} of {overlap.networks} networks of this data were in the predictor's training "
                       f"data; the metrics are on the other {overlap.networks - overlap.seen}")
    if overlap.shared_sources:
        out.append(f"the predictor was trained on {', '.join(overlap.shared_sources)} too: the metrics measure fit, "
                   "not accuracy on new data")
    return out
