"""Opacus' DP-SGD throughput on the MLP and batch sizes of bench/dpsgd.ts, for the comparison in that benchmark.

Run by bench/dpsgd.ts (python tools/reference/opacus_bench.py FOLDER ROWS COLS HIDDEN RATES SECONDS SIGMA CLIP LR),
with tools/reference/opacus_bench-requirements.txt installed. FOLDER holds x.f32 (rows×cols, little-endian float32)
and y.u8; RATES is a comma-separated list of Poisson sampling rates q (batch q·ROWS each). For every rate, prints
steps/s of each mode (timed for about SECONDS after 3 warm-up steps, at least 3 steps) in one JSON object:
  - hooks_loader: Opacus' default per-sample gradients (hooks) fed by its Poisson DPDataLoader, as documented;
  - hooks: the same, with Poisson sampling done as one vectorised mask (no per-example Python in data loading);
  - ghost: Opacus' fast gradient clipping (grad_sample_mode="ghost"), vectorised sampling;
  - nonprivate: plain PyTorch on mini-batches of the expected batch size.
All use Adam, BCEWithLogitsLoss (mean), noise multiplier SIGMA and clipping norm CLIP, and torch's default threads.
"""

import json
import sys
import time
import warnings

import numpy as np
import opacus
import torch
from opacus import PrivacyEngine
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

WARMUP = 3
MIN_STEPS = 3


def mlp(cols, hidden):
    layers, width = [], cols
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def timed(step, seconds):
    for _ in range(WARMUP):
        step()
    steps, start = 0, time.perf_counter()
    while steps < MIN_STEPS or time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps / (time.perf_counter() - start)


def modes(x, y, q, hidden, sigma, clip, lr, seconds):
    rows, cols = x.shape
    batch = round(q * rows)
    criterion = nn.BCEWithLogitsLoss()
    results = {}

    def private(mode, vectorised):
        model = mlp(cols, hidden)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        loader = DataLoader(TensorDataset(x, y), batch_size=batch)
        engine = PrivacyEngine()
        made = engine.make_private(
            module=model, optimizer=optimizer, data_loader=loader, criterion=criterion,
            noise_multiplier=sigma, max_grad_norm=clip, poisson_sampling=True, grad_sample_mode=mode,
        )
        model, optimizer, loss_fn, loader = made if mode == "ghost" else (made[0], made[1], criterion, made[2])
        batches = iter(())

        def next_batch():
            nonlocal batches
            if vectorised:
                index = (torch.rand(rows) < q).nonzero().squeeze(1)
                return x[index], y[index]
            try:
                return next(batches)
            except StopIteration:
                batches = iter(loader)
                return next(batches)

        def step():
            xb, yb = next_batch()
            optimizer.zero_grad()
            loss = loss_fn(model(xb).squeeze(1), yb)
            loss.backward()
            optimizer.step()

        return timed(step, seconds)

    results["hooks_loader"] = private("hooks", vectorised=False)
    results["hooks"] = private("hooks", vectorised=True)
    results["ghost"] = private("ghost", vectorised=True)

    model = mlp(cols, hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = {"perm": torch.randperm(rows), "at": 0}

    def plain_step():
        if order["at"] + batch > rows:
            order["perm"], order["at"] = torch.randperm(rows), 0
        index = order["perm"][order["at"]: order["at"] + batch]
        order["at"] += batch
        optimizer.zero_grad()
        criterion(model(x[index]).squeeze(1), y[index]).backward()
        optimizer.step()

    results["nonprivate"] = timed(plain_step, seconds)
    return {"batch": batch, "steps_per_s": results}


def main():
    warnings.filterwarnings("ignore")
    folder, rows, cols, hidden, rates, seconds, sigma, clip, lr = sys.argv[1:]
    rows, cols, seconds = int(rows), int(cols), float(seconds)
    hidden = [int(h) for h in hidden.split(",")]
    sigma, clip, lr = float(sigma), float(clip), float(lr)
    x = torch.from_numpy(np.fromfile(f"{folder}/x.f32", dtype="<f4").reshape(rows, cols).copy())
    y = torch.from_numpy(np.fromfile(f"{folder}/y.u8", dtype=np.uint8).astype(np.float32))
    torch.manual_seed(0)
    per_rate = [modes(x, y, float(q), hidden, sigma, clip, lr, seconds) for q in rates.split(",")]
    print(json.dumps({
        "rates": per_rate, "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
        "torch_version": torch.__version__, "opacus_version": opacus.__version__,
    }))


if __name__ == "__main__":
    main()
