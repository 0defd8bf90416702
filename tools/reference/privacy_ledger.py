"""Recomposes a fraudops privacy ledger with dp-accounting 0.6 (the reference for ml/privacy/ledger.ts).

Input: the JSON of `fraudops privacy ledger --json` (or a bare list of entries) on stdin or in the file named by the
first argument. Output (stdout, JSON): per event day the ε at the ledger's δ of every entry whose window covers the
day, composed by dp-accounting's PLDAccountant (add-or-remove-one, value_discretization_interval 1e-4), and for the
card unit the same over the runs of the report's rolling period:
    {"unit", "delta", "days": [{"day", "epsilon", "runs"}], "period": {"epsilon", "runs"} | null}
ε is null when unbounded (a non-private entry). An approximate-dp entry ((ε, δ)-DP, e.g. a private tuning search) has no
DpEvent: its worst-case PLD (from_privacy_parameters) is composed into the accountant's PLD directly. Run in a venv with tools/reference/privacy_ledger-requirements.txt:
    node bin/fraudops.cjs privacy ledger --json | /tmp/venv-dpacc/bin/python tools/reference/privacy_ledger.py
"""

import datetime
import json
import math
import sys

import dp_accounting as dpa
from dp_accounting.pld import common, pld_privacy_accountant, privacy_loss_distribution

PLD_INTERVAL = 1e-4
DEFAULT_DELTA = 1e-6


def dp_event(mechanism):
    kind = mechanism["kind"]
    if kind == "poisson-gaussian":
        step = dpa.PoissonSampledDpEvent(mechanism["samplingRate"], dpa.GaussianDpEvent(mechanism["noiseMultiplier"]))
        return dpa.SelfComposedDpEvent(step, mechanism["steps"])
    if kind == "gaussian":
        return dpa.GaussianDpEvent(mechanism["sigma"] / mechanism["sensitivity"])
    if kind == "composition":
        return dpa.ComposedDpEvent([dp_event(part) for part in mechanism["parts"]])
    if kind == "non-private":
        return dpa.NonPrivateDpEvent()
    raise ValueError(f"unknown mechanism kind {kind!r}")


def compose(accountant, mechanism):
    kind = mechanism["kind"]
    if kind == "approximate-dp":
        parameters = common.DifferentialPrivacyParameters(mechanism["epsilon"], mechanism["delta"])
        pld = privacy_loss_distribution.from_privacy_parameters(parameters, PLD_INTERVAL)
        # pylint: disable=protected-access
        accountant._pld = accountant._pld.compose(pld)
    elif kind == "composition":
        for part in mechanism["parts"]:
            compose(accountant, part)
    else:
        accountant.compose(dp_event(mechanism))


def composed_epsilon(entries, delta):
    if not entries:
        return 0.0
    accountant = pld_privacy_accountant.PLDAccountant(value_discretization_interval=PLD_INTERVAL)
    for entry in entries:
        compose(accountant, entry["mechanism"])
    epsilon = float(accountant.get_epsilon(delta))
    return epsilon if math.isfinite(epsilon) else None


def days_of(entry):
    first = datetime.date.fromisoformat(entry["days"]["first"])
    last = datetime.date.fromisoformat(entry["days"]["last"])
    return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]


def main():
    source = open(sys.argv[1], encoding="utf8") if len(sys.argv) > 1 else sys.stdin
    ledger = json.load(source)
    if isinstance(ledger, list):
        ledger = {"unit": "transaction", "budget": {"delta": DEFAULT_DELTA}, "entries": ledger, "worst": None}
    unit = ledger["unit"]
    delta = ledger["budget"]["delta"]
    entries = sorted(
        (e for e in ledger["entries"] if e["unit"] == unit), key=lambda e: (e["recordedAt"], e["runId"])
    )
    covering = {}
    for entry in entries:
        for day in days_of(entry):
            covering.setdefault(day, []).append(entry)
    days = [
        {
            "day": day.isoformat(),
            "epsilon": composed_epsilon(covering[day], delta),
            "runs": [e["runId"] for e in covering[day]],
        }
        for day in sorted(covering)
    ]
    period = None
    worst = ledger.get("worst")
    if unit == "card" and worst:
        by_id = {e["runId"]: e for e in entries}
        runs = [by_id[run] for run in worst["runs"]]
        period = {"epsilon": composed_epsilon(runs, delta), "runs": worst["runs"]}
    json.dump({"unit": unit, "delta": delta, "days": days, "period": period}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
