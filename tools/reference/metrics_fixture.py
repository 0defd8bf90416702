"""Reference values for ml/metrics.ts from scikit-learn, written to tests/fixtures/metrics/sklearn.json.

Run: python tools/reference/metrics_fixture.py  (with tools/reference/metrics_fixture-requirements.txt installed).
Vectors come from a seeded numpy generator and are stored with the expected values, so the TypeScript tests
need neither Python nor numpy. Scores are rounded to 6 decimals so JSON carries them exactly.
"""

import json
import math
import pathlib

import numpy as np
import sklearn
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    fbeta_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "metrics" / "sklearn.json"
# Curves longer than this are stored as their length plus every STRIDE-th point.
FULL_CURVE_MAX = 400
STRIDE = 97


def vectors():
    rng = np.random.default_rng(20240401)
    yield "sklearn_doc_example", np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    yield "two_examples_tied", np.array([1, 0]), np.array([0.3, 0.3])
    yield "tiny_inverted", np.array([1, 0, 1, 0, 0]), np.array([0.1, 0.9, 0.2, 0.8, 0.7])
    yield "perfect_separation", np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.8, 0.9])

    y = (rng.random(50) < 0.3).astype(int)
    y[:2] = [0, 1]
    yield "all_scores_equal", y, np.full(50, 0.5)

    y = (rng.random(300) < 0.2).astype(int)
    yield "ties_one_decimal", y, np.round(np.clip(0.3 * y + rng.random(300) * 0.8, 0, 1), 1)

    y = (rng.random(1000) < 0.1).astype(int)
    yield "integer_scores_heavy_ties", y, rng.integers(0, 6, 1000) + 2 * y * rng.integers(0, 2, 1000)

    y = (rng.random(10_000) < 0.02).astype(int)
    yield "ten_thousand_continuous", y, np.round(1 / (1 + np.exp(-(rng.normal(0, 1, 10_000) + 2.0 * y - 2))), 6)

    y = (rng.random(10_000) < 0.05).astype(int)
    yield "ten_thousand_two_decimals", y, np.round(np.clip(rng.beta(2, 5, 10_000) + 0.25 * y, 0, 1), 2)


def curve(arrays):
    """Each array as its length and its values (every STRIDE-th one when longer than FULL_CURVE_MAX)."""
    out = {}
    for key, values in arrays.items():
        values = np.asarray(values, dtype=float)
        stride = 1 if len(values) <= FULL_CURVE_MAX else STRIDE
        out[key] = {"length": len(values), "stride": stride, "values": finite(values[::stride])}
    return out


def finite(values):
    return [None if math.isinf(v) else float(v) for v in np.asarray(values, dtype=float)]


def best_f2(y, s, beta=2.0):
    """Brute force over every distinct score as threshold (score >= t); ties in F go to the highest threshold."""
    best = None
    for t in sorted(set(s.tolist()), reverse=True):
        pred = (s >= t).astype(int)
        f = fbeta_score(y, pred, beta=beta, zero_division=0)
        if best is None or f > best["fbeta"]:
            best = {
                "threshold": float(t),
                "fbeta": float(f),
                "precision": float(precision_score(y, pred, zero_division=0)),
                "recall": float(recall_score(y, pred)),
            }
    tn, fp, fn, tp = confusion_matrix(y, (s >= best["threshold"]).astype(int), labels=[0, 1]).ravel()
    best["confusion"] = {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)}
    return best


def card_precision_at_k(days, customers, scores, labels, k):
    """The handbook's card precision@k, written from its description (see ml/metrics.ts)."""
    detected_before = set()
    daily = []
    for day in sorted(set(days)):
        cards = {}
        for d, c, s, y in zip(days, customers, scores, labels):
            if d != day or c in detected_before:
                continue
            score, label = cards.get(c, (-math.inf, 0))
            cards[c] = (max(score, s), max(label, y))
        ranked = sorted(cards.items(), key=lambda item: (-item[1][0], item[0]))
        detected = [c for c, (_, label) in ranked[:k] if label == 1]
        detected_before.update(detected)
        daily.append(len(detected) / k)
    return {"mean": float(np.mean(daily)), "per_day": daily}


def card_cases():
    rng = np.random.default_rng(7)
    n = 3000
    days = rng.integers(0, 7, n)
    customers = rng.integers(0, 400, n)
    compromised = set(rng.choice(400, 40, replace=False).tolist())
    labels = np.array([int(c in compromised and rng.random() < 0.6) for c in customers])
    scores = np.round(rng.random(n) * 0.8 + 0.15 * labels, 6)
    rows = {
        "day": days.tolist(),
        "customer": customers.tolist(),
        "score": scores.tolist(),
        "label": labels.tolist(),
    }
    cases = []
    for k in (5, 20, 100):
        cases.append({"k": k, **card_precision_at_k(rows["day"], rows["customer"], rows["score"], rows["label"], k)})
    return {"rows": rows, "cases": cases}


def main():
    cases = []
    for name, y, s in vectors():
        s = np.asarray(s, dtype=float)
        fpr, tpr, roc_t = roc_curve(y, s)
        precision, recall, pr_t = precision_recall_curve(y, s)
        cases.append(
            {
                "name": name,
                "labels": y.astype(int).tolist(),
                "scores": s.tolist(),
                "roc_auc": float(roc_auc_score(y, s)),
                "average_precision": float(average_precision_score(y, s)),
                "roc_curve": curve({"fpr": fpr, "tpr": tpr, "thresholds": roc_t}),
                "pr_curve": curve({"precision": precision, "recall": recall, "thresholds": pr_t}),
                "best_f2": best_f2(y, s),
            }
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "generator": "tools/reference/metrics_fixture.py",
                "sklearn": sklearn.__version__,
                "numpy": np.__version__,
                "cases": cases,
                "card_precision": card_cases(),
            }
        )
        + "\n"
    )
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
