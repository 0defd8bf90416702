"""The same model behind FastAPI/uvicorn: the reference bench/api.ts measures `fraudops serve` against.

Run: python tools/reference/fastapi_server.py <bundle-dir> <port>
(with tools/reference/fastapi-requirements.txt installed). The bundle directory is a fraudops model bundle written by
saveBundleToDir (clients/bundle-store.ts): the MLP's weights come from model.json + weights.bin, the preprocessing
from transform.json, the decision threshold from threshold.json, and the forward pass (relu ... sigmoid) is numpy.
POST /predict takes the same bodies as the fraudops API's explicit-features path, {features: {...}} or
{transactions: [{features: {...}}, ...]}, validates them with pydantic (types, ranges, no unknown fields) and
answers {score, decision, model_version, features} (a batch: {model_version, predictions: [...]}).
"""

import json
import pathlib
import sys
from typing import Annotated, List, Literal, Optional

import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

WINDOWS = (1, 7, 30)
FEATURE_NAMES = (
    ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"]
    + [name for n in WINDOWS for name in (f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW", f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW")]
    + [name for n in WINDOWS for name in (f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW", f"TERMINAL_ID_RISK_{n}DAY_WINDOW")]
)

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, strict=True)]
Flag = Literal[0, 1]
Share = Annotated[float, Field(ge=0, le=1)]


def feature_type(name: str):
    if "_NB_TX_" in name:
        return Count
    if "_RISK_" in name:
        return Share
    if name.startswith("TX_DURING_"):
        return Flag
    return NonNegative


Features = type(
    "Features",
    (BaseModel,),
    {
        "__annotations__": {name: feature_type(name) for name in FEATURE_NAMES},
        "model_config": ConfigDict(extra="forbid"),
    },
)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    features: Features
    TRANSACTION_ID: Optional[Count] = None


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transactions: Annotated[List[Item], Field(min_length=1, max_length=10_000)]


class Mlp:
    """The bundle's dense layers and input transform, computed in float32 like TensorFlow.js."""

    def __init__(self, bundle: pathlib.Path):
        model = json.loads((bundle / "model.json").read_text())
        (group,) = model["weightsManifest"]
        data = np.frombuffer((bundle / group["paths"][0]).read_bytes(), dtype=np.float32)
        tensors, offset = {}, 0
        for spec in group["weights"]:
            size = int(np.prod(spec["shape"]))
            tensors[spec["name"]] = data[offset : offset + size].reshape(spec["shape"])
            offset += size
        self.layers = []
        for layer in model["modelTopology"]["config"]["layers"]:
            config = layer["config"]
            name = config["name"]
            self.layers.append((tensors[f"{name}/kernel"], tensors[f"{name}/bias"], config["activation"]))
        transform = json.loads((bundle / "transform.json").read_text())["features"]
        self.log1p = np.array([t["log1p"] for t in transform])
        self.center = np.array([t["center"] for t in transform], dtype=np.float32)
        self.scale = np.array([t["scale"] for t in transform], dtype=np.float32)
        self.threshold = json.loads((bundle / "threshold.json").read_text())["threshold"]
        self.version = json.loads((bundle / "manifest.json").read_text())["bundleSha256"][:12]

    def scores(self, x: np.ndarray) -> np.ndarray:
        x = np.where(self.log1p, np.log1p(x), x)
        a = ((x - self.center) / self.scale).astype(np.float32)
        for kernel, bias, activation in self.layers:
            a = a @ kernel + bias
            if activation == "relu":
                a = np.maximum(a, 0)
            elif activation == "sigmoid":
                a = 1 / (1 + np.exp(-a))
        return a[:, 0]


def create_app(mlp: Mlp) -> FastAPI:
    app = FastAPI()

    def predict(items: List[Item]) -> list:
        dicts = [item.features.model_dump() for item in items]
        x = np.array([[d[name] for name in FEATURE_NAMES] for d in dicts], dtype=np.float64)
        scores = mlp.scores(x).tolist()
        out = []
        for item, features, score in zip(items, dicts, scores):
            prediction = {"score": score, "decision": "fraud" if score >= mlp.threshold else "legit", "features": features}
            if item.TRANSACTION_ID is not None:
                prediction["TRANSACTION_ID"] = item.TRANSACTION_ID
            out.append(prediction)
        return out

    @app.post("/predict")
    async def predict_endpoint(body: Batch | Item):
        if isinstance(body, Batch):
            return {"model_version": mlp.version, "predictions": predict(body.transactions)}
        return {**predict([body])[0], "model_version": mlp.version}

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    bundle_dir, port = pathlib.Path(sys.argv[1]), int(sys.argv[2])
    uvicorn.run(create_app(Mlp(bundle_dir)), host="127.0.0.1", port=port, log_level="warning", access_log=False)
