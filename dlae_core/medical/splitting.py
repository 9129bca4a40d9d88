"""Seeded train/validation/test splits of an import: stratified by class (CNN labels) and never
splitting one patient's samples across splits when patients are known.

One rule serves every case. Units are single samples, or all samples of one patient; each unit has
a class (its label, the most frequent label of its patient's samples, or none). Within each class
the units are shuffled with ``numpy.random.default_rng(seed)`` and each goes to the split that is
furthest below its share of that class (ties: train, validation, test). With single samples this
gives every split its rounded share of every class; with patients, shares as close as whole
patients allow.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from dlae_core.data.splits import seed_word

SPLITS = ("train", "validation", "test")


def assign_splits(labels: list, patients: list, fractions: tuple[float, float, float], seed: int) -> list[str]:
    """The split (``"train"``, ``"validation"``, ``"test"``) of each sample, given its label (or
    None) and patient (or None: a unit of its own)."""
    total = sum(fractions)
    shares = [f / total for f in fractions]
    units: dict[object, list[int]] = {}
    for i, patient in enumerate(patients):
        units.setdefault(("patient", patient) if patient is not None else ("sample", i), []).append(i)
    by_class: dict[object, list[list[int]]] = {}
    for members in units.values():
        counts = Counter(labels[i] for i in members)
        label = max(counts, key=lambda c: (counts[c], str(c)))  # most frequent; ties: a fixed choice
        by_class.setdefault(label, []).append(members)
    rng = np.random.default_rng(seed_word(seed))
    out = [""] * len(labels)
    for label in sorted(by_class, key=str):
        groups = by_class[label]
        size = sum(len(g) for g in groups)
        filled = [0, 0, 0]
        for k in rng.permutation(len(groups)):
            members = groups[int(k)]
            deficits = [shares[s] * size - filled[s] if shares[s] > 0 else -np.inf for s in range(3)]
            chosen = int(np.argmax(deficits))
            filled[chosen] += len(members)
            for i in members:
                out[i] = SPLITS[chosen]
    return out


def parse_fractions(text: str) -> tuple[float, float, float]:
    """``"0.7,0.15,0.15"`` (train, validation[, test]) -> three non-negative fractions summing to 1;
    ValueError with a reason otherwise."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError("fractions must be numbers") from None
    if len(values) not in (1, 2, 3) or any(v < 0 for v in values) or not np.isfinite(values).all():
        raise ValueError("give 1 to 3 non-negative fractions: train[,validation[,test]]")
    values += [0.0] * (3 - len(values))
    if values[0] <= 0 or abs(sum(values) - 1.0) > 1e-6:
        raise ValueError("the fractions must sum to 1 with a positive training share")
    return tuple(values)
