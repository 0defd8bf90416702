"""Reference behaviour of imbalanced-learn's SMOTE for ml/smote.ts, written to tests/fixtures/smote/imblearn.json.

Run: python tools/reference/smote_fixture.py  (with tools/reference/smote_fixture-requirements.txt installed).
Synthetic points cannot match ours (different random generators), so the fixture records what must agree:
the number of rows added for each ratio, the k nearest minority neighbours, imbalanced-learn's synthetic points
(each must lie on a segment from a minority point to one of its k neighbours), and which inputs it rejects.
"""

import json
import pathlib

import imblearn
import numpy as np
from imblearn.over_sampling import SMOTE
from sklearn.neighbors import NearestNeighbors

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "smote" / "imblearn.json"


def dataset():
    rng = np.random.default_rng(11)
    majority = rng.normal(0, 1, (120, 3))
    minority = rng.normal(2, 0.7, (14, 3))
    x = np.round(np.vstack([majority, minority]), 6)
    y = np.array([0] * 120 + [1] * 14)
    order = rng.permutation(len(y))
    return x[order], y[order]


def outcome(x, y, **params):
    try:
        xr, yr = SMOTE(random_state=0, **params).fit_resample(x, y)
    except ValueError as err:
        return {"params": params, "error": str(err)}
    return {
        "params": params,
        "rows": int(len(yr)),
        "minority": int((yr == 1).sum()),
        "majority": int((yr == 0).sum()),
        "synthetic": xr[len(y) :].tolist(),
    }


def main():
    x, y = dataset()
    minority = x[y == 1]
    # SMOTE's own neighbour search: k + 1 neighbours of each minority point, the first (itself) dropped.
    neighbours = NearestNeighbors(n_neighbors=6).fit(minority).kneighbors(minority, return_distance=False)[:, 1:]
    few = np.vstack([x[y == 0], x[y == 1][:4]]), np.array([0] * 120 + [1] * 4)
    cases = [outcome(x, y, k_neighbors=5, sampling_strategy=r) for r in (0.2, 0.33, 0.5, 0.75, 1.0)]
    cases.append(outcome(x, y, k_neighbors=3, sampling_strategy=0.6))
    errors = {
        "ratio_below_current": outcome(x, y, sampling_strategy=0.1),
        "ratio_above_one": outcome(x, y, sampling_strategy=1.5),
        "fewer_minority_than_k_plus_1": outcome(*few, k_neighbors=5, sampling_strategy=0.5),
        "single_class": outcome(x[y == 0], y[y == 0], sampling_strategy=0.5),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "generator": "tools/reference/smote_fixture.py",
                "imblearn": imblearn.__version__,
                "x": x.tolist(),
                "y": y.tolist(),
                "minority_neighbours_k5": neighbours.tolist(),
                "cases": cases,
                "errors": errors,
            }
        )
        + "\n"
    )
    print(f"wrote {OUT}")
    for name, case in errors.items():
        print(name, "->", case.get("error", "no error"))


if __name__ == "__main__":
    main()
