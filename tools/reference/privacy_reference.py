"""Reference values for the DP accountants in ml/privacy (fixture: tests/fixtures/privacy/accounting-reference.json).

Run in a venv with tools/reference/privacy_reference-requirements.txt installed:
    python tools/reference/privacy_reference.py > tests/fixtures/privacy/accounting-reference.json

Per case (Poisson-subsampled Gaussian, add/remove-one neighbouring relation):
  * dp-accounting RdpAccountant (default orders): RDP of the T-fold composition at every order, epsilon, optimal order;
  * Opacus analysis.rdp (its DEFAULT_ALPHAS): compute_rdp at those orders, get_privacy_spent epsilon, optimal order;
  * dp-accounting PLDAccountant (connect-the-dots, value_discretization_interval 1e-4): epsilon;
  * dp-accounting PLDAccountant at 1e-5 for a few T = 1e6 cases;
  * Opacus PRVAccountant: (lower, estimate, upper) epsilon with eps_error 1e-2.
Plus noise-multiplier calibrations (dp-accounting calibrate_dp_mechanism), scipy special-function values that the
TypeScript numerics are checked against, and a tuning search's privacy (repeat_and_select): dp-accounting's
RdpAccountant on RepeatAndSelectDpEvent(trial, mean, shape), the trial a ComposedDpEvent of a self-composed
Poisson-subsampled Gaussian and a Gaussian (shape null stands for infinity, the Poisson distribution).

Only that last section needs no Opacus (the full run needs torch, ~5.5 GB, and minutes): with --update FIXTURE the script
recomputes it in a dp-accounting venv (tools/reference/privacy_ledger-requirements.txt) and prints FIXTURE with that
section replaced, the rest byte for byte as it was:
    python tools/reference/privacy_reference.py --update tests/fixtures/privacy/accounting-reference.json > out.json
"""

import json
import logging
import math
import sys
import time
import warnings
from importlib.metadata import version

import dp_accounting as dpa
import numpy as np
from dp_accounting import mechanism_calibration
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant
from scipy import special

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

PLD_INTERVAL = 1e-4
PRV_EPS_ERROR = 1e-2  # 1e-3 needs >9 GB and minutes per case at T >= 2.5e5
PLD_FINE_INTERVAL = 1e-5
# Cases also run at PLD_FINE_INTERVAL: at T = 1e6 the 1e-4 grid is visibly pessimistic (connect-the-dots error grows with T).
FINE_CASES = {(1e-4, 1.0, 1000000, 1e-6), (1e-3, 2.0, 1000000, 1e-5), (1e-5, 1.0, 1000000, 1e-8)}

# (sampling rate q, noise multiplier sigma, steps T, delta). Extremes: q = 1, q = 1e-5, sigma < 0.6, T = 1e6.
CASES = [
    (1.0, 1.0, 1, 1e-5),
    (1.0, 0.5, 1, 1e-5),
    (1.0, 2.0, 100, 1e-5),
    (1.0, 5.0, 1000, 1e-6),
    (0.5, 0.8, 10, 1e-5),
    (0.2, 3.0, 50, 1e-5),
    (0.1, 0.5, 10, 1e-5),
    (0.1, 1.1, 100, 1e-5),
    (0.05, 10.0, 1000, 1e-5),
    (0.01, 1.0, 1000, 1e-5),
    (0.01, 0.55, 100, 1e-5),
    (0.01, 0.5, 1000, 1e-5),
    (0.01, 2.0, 10000, 1e-6),
    (0.004, 1.1, 250000, 1e-5),
    (1e-3, 0.8, 10000, 1e-6),
    (1e-3, 1.0, 100000, 1e-5),
    (1e-3, 2.0, 1000000, 1e-5),
    (1e-4, 1.0, 1000000, 1e-6),
    (1e-4, 0.6, 10000, 1e-6),
    (1e-5, 0.5, 1000, 1e-5),
    (1e-5, 0.5, 1000000, 1e-8),
    (1e-5, 1.0, 1000000, 1e-8),
    (1e-5, 0.3, 1, 1e-5),
]

# (q, T, delta, target epsilon) for the inverse.
CALIBRATIONS = [
    (0.01, 1000, 1e-5, 2.0),
    (1e-3, 100000, 1e-5, 1.0),
    (1e-4, 1000000, 1e-6, 0.5),
    (1.0, 100, 1e-5, 8.0),
]


# A tuning search: (q, sigma, T) of the trial's DP-SGD, composed with one Gaussian release of this sigma; the mean number
# of trials and dp-accounting's shapes (inf: Poisson, 1: geometric, 0: logarithmic); epsilon at this delta.
REPEAT_TRIALS = [(0.02, 1.1, 500), (1.0, 5.0, 1)]
REPEAT_GAUSSIAN_SIGMA = 2.0
REPEAT_MEAN = 12.0
REPEAT_SHAPES = [math.inf, 1.0, 0.0]
REPEAT_DELTA = 1e-7


def event(q, sigma, steps):
    return dpa.SelfComposedDpEvent(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)), steps)


def finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


def rdp_dp_accounting(q, sigma, steps, delta):
    accountant = rdp_privacy_accountant.RdpAccountant()
    accountant.compose(event(q, sigma, steps))
    eps, order = accountant.get_epsilon_and_optimal_order(delta)
    # pylint: disable=protected-access
    return {
        "orders": [float(o) for o in accountant._orders],
        "rdp": [finite(r) for r in accountant._rdp],
        "epsilon": float(eps),
        "optimal_order": float(order),
    }


def rdp_opacus(q, sigma, steps, delta):
    from opacus.accountants import RDPAccountant  # pylint: disable=import-outside-toplevel
    from opacus.accountants.analysis import rdp as opacus_rdp  # pylint: disable=import-outside-toplevel

    alphas = RDPAccountant.DEFAULT_ALPHAS
    rdp = opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=alphas)
    eps, order = opacus_rdp.get_privacy_spent(orders=alphas, rdp=rdp, delta=delta)
    return {
        "orders": [float(o) for o in alphas],
        "rdp": [finite(r) for r in rdp],
        "epsilon": float(eps),
        "optimal_order": float(order),
    }


def pld_dp_accounting(q, sigma, steps, delta, interval):
    start = time.time()
    accountant = pld_privacy_accountant.PLDAccountant(value_discretization_interval=interval)
    accountant.compose(event(q, sigma, steps))
    eps = accountant.get_epsilon(delta)
    return {"epsilon": float(eps), "value_discretization_interval": interval, "seconds": time.time() - start}


def prv_opacus(q, sigma, steps, delta):
    from opacus.accountants import PRVAccountant  # pylint: disable=import-outside-toplevel

    start = time.time()
    accountant = PRVAccountant()
    accountant.history = [(sigma, q, steps)]
    delta_error = delta / 1000
    try:
        # pylint: disable=protected-access
        dprv = accountant._get_dprv(eps_error=PRV_EPS_ERROR, delta_error=delta_error)
        lower, estimate, upper = dprv.compute_epsilon(delta, delta_error, PRV_EPS_ERROR)
    except (ValueError, RuntimeError, MemoryError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    return {
        "epsilon_lower": float(lower),
        "epsilon": float(estimate),
        "epsilon_upper": float(upper),
        "eps_error": PRV_EPS_ERROR,
        "seconds": time.time() - start,
    }


def calibrate(accountant_factory, q, steps, delta, target, bracket):
    return float(
        mechanism_calibration.calibrate_dp_mechanism(
            accountant_factory, lambda sigma: event(q, sigma, steps), target, delta, bracket, tol=1e-5
        )
    )


def rdp_of(dp_event):
    accountant = rdp_privacy_accountant.RdpAccountant()
    accountant.compose(dp_event)
    # pylint: disable=protected-access
    return accountant, [finite(r) for r in accountant._rdp]


def repeat_and_select():
    cases = []
    for q, sigma, steps in REPEAT_TRIALS:
        trial = dpa.ComposedDpEvent([event(q, sigma, steps), dpa.GaussianDpEvent(REPEAT_GAUSSIAN_SIGMA)])
        _, trial_rdp = rdp_of(trial)
        for shape in REPEAT_SHAPES:
            print(f"repeat-and-select q={q} sigma={sigma} T={steps} mean={REPEAT_MEAN} shape={shape}", file=sys.stderr)
            accountant, rdp = rdp_of(dpa.dp_event.RepeatAndSelectDpEvent(trial, REPEAT_MEAN, shape))
            eps, order = accountant.get_epsilon_and_optimal_order(REPEAT_DELTA)
            # pylint: disable=protected-access
            gamma = None if shape == math.inf else rdp_privacy_accountant._gamma_truncated_negative_binomial(shape, REPEAT_MEAN)
            cases.append(
                {
                    "trial": {
                        "sampling_rate": q,
                        "noise_multiplier": sigma,
                        "steps": steps,
                        "gaussian_noise_multiplier": REPEAT_GAUSSIAN_SIGMA,
                    },
                    "mean": REPEAT_MEAN,
                    "shape": None if shape == math.inf else shape,
                    "gamma": gamma,
                    "delta": REPEAT_DELTA,
                    "orders": [float(o) for o in accountant._orders],
                    "trial_rdp": trial_rdp,
                    "rdp": rdp,
                    "epsilon": float(eps),
                    "optimal_order": float(order),
                }
            )
    return cases


def special_values():
    xs = [-40.0, -30.0, -20.0, -10.0, -6.0, -3.0, -1.5, -0.5, 0.0, 0.3, 1.0, 2.5, 5.0, 8.0, 12.0, 30.0]
    return {
        "x": xs,
        "log_ndtr": [float(special.log_ndtr(x)) for x in xs],
        "ndtr": [float(special.ndtr(x)) for x in xs],
        "ndtri_p": [0.5 * math.exp(-50), 1e-10, 0.01, 0.3, 0.5, 0.9],
        "ndtri": [float(special.ndtri(p)) for p in [0.5 * math.exp(-50), 1e-10, 0.01, 0.3, 0.5, 0.9]],
    }


def update(path):
    with open(path, encoding="utf8") as fixture:
        out = json.load(fixture)
    if out["versions"]["dp-accounting"] != version("dp-accounting"):
        sys.exit(f"{path} was made with dp-accounting {out['versions']['dp-accounting']}; this is {version('dp-accounting')}")
    out["repeat_and_select"] = repeat_and_select()
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--update":
        update(sys.argv[2])
        return
    cases = []
    for q, sigma, steps, delta in CASES:
        print(f"case q={q} sigma={sigma} T={steps} delta={delta}", file=sys.stderr)
        fine = (q, sigma, steps, delta) in FINE_CASES
        cases.append(
            {
                "sampling_rate": q,
                "noise_multiplier": sigma,
                "steps": steps,
                "delta": delta,
                "dp_accounting_rdp": rdp_dp_accounting(q, sigma, steps, delta),
                "opacus_rdp": rdp_opacus(q, sigma, steps, delta),
                "dp_accounting_pld": pld_dp_accounting(q, sigma, steps, delta, PLD_INTERVAL),
                "dp_accounting_pld_fine": pld_dp_accounting(q, sigma, steps, delta, PLD_FINE_INTERVAL) if fine else None,
                "opacus_prv": prv_opacus(q, sigma, steps, delta),
            }
        )
    calibrations = []
    for q, steps, delta, target in CALIBRATIONS:
        print(f"calibration q={q} T={steps} delta={delta} eps={target}", file=sys.stderr)
        rdp_sigma = calibrate(
            rdp_privacy_accountant.RdpAccountant, q, steps, delta, target, mechanism_calibration.LowerEndpointAndGuess(0.05, 1.0)
        )
        # The PLD needs less noise than RDP; bracketing below the RDP answer keeps the PLD off tiny sigmas (huge grids).
        pld_sigma = calibrate(
            lambda: pld_privacy_accountant.PLDAccountant(value_discretization_interval=PLD_INTERVAL),
            q,
            steps,
            delta,
            target,
            mechanism_calibration.ExplicitBracketInterval(rdp_sigma / 2, rdp_sigma * 1.01),
        )
        calibrations.append(
            {
                "sampling_rate": q,
                "steps": steps,
                "delta": delta,
                "target_epsilon": target,
                "rdp_noise_multiplier": rdp_sigma,
                "pld_noise_multiplier": pld_sigma,
            }
        )
    out = {
        "generated_by": "tools/reference/privacy_reference.py",
        "versions": {name: version(name) for name in ["dp-accounting", "opacus", "numpy", "scipy"]},
        "cases": cases,
        "calibrations": calibrations,
        "special": special_values(),
        "repeat_and_select": repeat_and_select(),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
