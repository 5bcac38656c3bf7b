"""Make the benign model-file corpus with the real libraries (tests/data/modelfiles/benign/ + manifest.json).

Run it in a venv that has them (not the shared test venv), e.g.:
    python3 -m venv .work/venv && .work/venv/bin/pip install torch==2.13.0 scikit-learn scipy pandas xgboost \
        lightgbm joblib lz4 h5py keras safetensors onnx
    KERAS_BACKEND=torch .work/venv/bin/python benchmarks/make_model_corpus.py [OUT_DIR]

Every artifact is tiny (the corpus stays well under 5 MB); the manifest records each file's format, the
distributions loading it needs (written here by hand, from what each library's loader imports), and the library
versions that made it. With --big DIR it instead writes the benchmark's large files (a ~100 MB RandomForest
joblib and a ~1 GiB torch checkpoint) into DIR.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "data" / "modelfiles" / "benign"
LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "joblib", "lz4", "xgboost", "lightgbm", "torch", "keras",
             "h5py", "safetensors", "onnx")

SK = ["scikit-learn", "numpy"]
ARTIFACTS: dict[str, tuple[str, list[str], Callable[[Path], None]]] = {}


def artifact(name: str, fmt: str, needs: list[str]) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    """Register a maker of one file: its format and the distributions its loader needs."""
    def register(make: Callable[[Path], None]) -> Callable[[Path], None]:
        ARTIFACTS[name] = (fmt, sorted(needs), make)
        return make
    return register


def _data(n: int = 60, features: int = 4, seed: int = 0) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    return x, y


def _frame() -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "age": rng.integers(18, 80, 40), "income": rng.normal(50, 10, 40),
        "city": pd.Categorical(rng.choice(["Oslo", "Lima", "Pune"], 40)),
        "joined": pd.date_range("2024-01-01", periods=40, freq="D"),
        "note": [f"row {i}" for i in range(40)],
    })


def _joblib(model: Any, path: Path, compress: Any = 0) -> None:
    import joblib

    joblib.dump(model, path, compress=compress)


def _forest(trees: int = 4, depth: int = 3) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=trees, max_depth=depth, random_state=0).fit(*_data())


# -- scikit-learn -----------------------------------------------------------------------------------------------
@artifact("sk_logistic.joblib", "joblib", SK + ["joblib"])
def _(path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    _joblib(LogisticRegression().fit(*_data()), path)


@artifact("sk_random_forest.joblib", "joblib", SK + ["joblib"])
def _(path: Path) -> None:
    _joblib(_forest(), path)


@artifact("sk_pipeline_svc.pkl", "pickle", SK)
def _(path: Path) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    path.write_bytes(pickle.dumps(make_pipeline(StandardScaler(), SVC(probability=False)).fit(*_data()), protocol=5))


@artifact("sk_column_transformer.joblib", "joblib", SK + ["joblib"])  # fitted on a DataFrame; keeps no pandas
def _(path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    frame = _frame()
    pre = ColumnTransformer([("num", StandardScaler(), ["age", "income"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])
    model = Pipeline([("pre", pre), ("gb", GradientBoostingClassifier(n_estimators=5, max_depth=2))])
    _joblib(model.fit(frame, (frame["income"] > 50).astype(int)), path)


@artifact("sk_decision_tree_p2.pkl", "pickle", SK)
def _(path: Path) -> None:
    from sklearn.tree import DecisionTreeRegressor
    path.write_bytes(pickle.dumps(DecisionTreeRegressor(max_depth=4).fit(*_data()), protocol=2))


@artifact("sk_decision_tree_p0.pkl", "pickle", SK)
def _(path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier
    path.write_bytes(pickle.dumps(DecisionTreeClassifier(max_depth=2).fit(*_data()), protocol=0))


@artifact("sk_tfidf_nb.pkl", "pickle", SK)
def _(path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline
    texts = ["good model", "bad data", "great result", "poor fit", "good data", "bad model"] * 3
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), MultinomialNB()).fit(texts, [1, 0, 1, 0, 1, 0] * 3)
    path.write_bytes(pickle.dumps(model, protocol=4))


@artifact("sk_kmeans_p3.pkl", "pickle", SK)
def _(path: Path) -> None:
    from sklearn.cluster import KMeans
    path.write_bytes(pickle.dumps(KMeans(n_clusters=3, n_init=2, random_state=0).fit(_data()[0]), protocol=3))


@artifact("sk_hist_gradient_boosting.joblib", "joblib", SK + ["joblib"])
def _(path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    _joblib(HistGradientBoostingClassifier(max_iter=5).fit(*_data()), path)


@artifact("sk_function_transformer.joblib", "joblib", SK + ["joblib"])
def _(path: Path) -> None:
    import numpy as np
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    x, y = _data()
    model = make_pipeline(FunctionTransformer(np.abs), SelectKBest(f_classif, k=2), Ridge()).fit(np.abs(x), y)
    _joblib(model, path)


@artifact("sk_knn_isolation.joblib", "joblib", SK + ["joblib"])
def _(path: Path) -> None:
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import KNeighborsClassifier
    x, y = _data()
    _joblib({"knn": KNeighborsClassifier(3).fit(x, y), "iforest": IsolationForest(n_estimators=3).fit(x)}, path)


for _kind in ("zlib", "gzip", "bz2", "lzma", "xz", "lz4"):
    _needs = SK + ["joblib"] + (["lz4"] if _kind == "lz4" else [])

    def _compressed(path: Path, kind: str = _kind) -> None:
        _joblib(_forest(3, 3), path, compress=(kind, 3))

    artifact(f"sk_forest_{_kind}.joblib", "joblib", _needs)(_compressed)


@artifact("sk_logistic.pkl.gz", "pickle", SK)
def _(path: Path) -> None:
    import gzip
    from sklearn.linear_model import LogisticRegression
    with gzip.open(path, "wb") as handle:
        pickle.dump(LogisticRegression().fit(*_data()), handle)


# -- SciPy, NumPy, pandas ------------------------------------------------------------------------------------------
@artifact("scipy_sparse.pkl", "pickle", ["scipy", "numpy"])
def _(path: Path) -> None:
    import scipy.sparse as sp
    matrix = sp.random(20, 30, density=0.1, format="csr", random_state=0)
    path.write_bytes(pickle.dumps({"csr": matrix, "csc": matrix.tocsc(), "coo": matrix.tocoo()}))


@artifact("scipy_sparse_array.joblib", "joblib", ["scipy", "numpy", "joblib"])
def _(path: Path) -> None:
    import scipy.sparse as sp
    _joblib(sp.csr_array(sp.random(10, 10, density=0.2, random_state=1)), path)


@artifact("numpy_float.npy", "npy-numeric", ["numpy"])
def _(path: Path) -> None:
    import numpy as np
    np.save(path, np.arange(48, dtype=np.float32).reshape(6, 8))


@artifact("numpy_structured.npy", "npy-numeric", ["numpy"])
def _(path: Path) -> None:
    import numpy as np
    np.save(path, np.zeros(5, dtype=[("id", "<i8"), ("score", "<f4"), ("tag", "S4")]))


@artifact("numpy_object.npy", "npy-object", ["numpy"])
def _(path: Path) -> None:
    import numpy as np
    np.save(path, np.array(["a", {"b": 1}, [1, 2], None], dtype=object), allow_pickle=True)


@artifact("numpy_arrays.npz", "npz", ["numpy"])
def _(path: Path) -> None:
    import numpy as np
    np.savez_compressed(path, weights=np.ones((4, 4)), bias=np.zeros(4), ids=np.arange(10))


@artifact("numpy_object_in.npz", "npz", ["numpy"])
def _(path: Path) -> None:
    import numpy as np
    np.savez(path, labels=np.array(["cat", "dog", None], dtype=object), values=np.ones(3))


@artifact("numpy_mixed.pkl", "pickle", ["numpy"])
def _(path: Path) -> None:
    import numpy as np
    data = {"f16": np.ones(3, np.float16), "c": np.ones(2, np.complex128), "dt": np.array(["2024-01-01"], "M8[D]"),
            "obj": np.array([1, "x"], dtype=object), "scalar": np.float64(1.5), "i": np.int32(7),
            "dtype": np.dtype("int16"), "bool": np.array([True, False]), "u": np.array(["ab", "cd"])}
    path.write_bytes(pickle.dumps(data, protocol=4))


@artifact("pandas_frame.pkl", "pickle", ["pandas", "numpy"])
def _(path: Path) -> None:
    _frame().to_pickle(path)


@artifact("pandas_series_index.pkl", "pickle", ["pandas", "numpy"])
def _(path: Path) -> None:
    import pandas as pd
    series = pd.Series([1.5, 2.5, None], index=pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-03"],
                                                                  tz="UTC"), name="x")
    path.write_bytes(pickle.dumps({"series": series, "cat": pd.Categorical(["a", "b", "a"]),
                                   "range": pd.RangeIndex(5), "multi": pd.MultiIndex.from_tuples([(1, "a"), (2, "b")]),
                                   "period": pd.period_range("2024-01", periods=3, freq="M"),
                                   "td": pd.to_timedelta([1, 2], unit="D"), "ts": pd.Timestamp("2024-05-01")}))


@artifact("pandas_frame.joblib", "joblib", ["pandas", "numpy", "joblib"])
def _(path: Path) -> None:
    _joblib(_frame(), path)


# -- XGBoost, LightGBM -----------------------------------------------------------------------------------------------
@artifact("xgb_classifier.joblib", "pickle", ["xgboost"])  # no numpy array inside: joblib writes a plain pickle
def _(path: Path) -> None:
    from xgboost import XGBClassifier
    _joblib(XGBClassifier(n_estimators=3, max_depth=2).fit(*_data()), path)


@artifact("xgb_regressor.pkl", "pickle", ["xgboost"])
def _(path: Path) -> None:
    from xgboost import XGBRegressor
    path.write_bytes(pickle.dumps(XGBRegressor(n_estimators=3, max_depth=2).fit(*_data())))


@artifact("xgb_model.ubj", "xgboost-ubj", [])
def _(path: Path) -> None:
    from xgboost import XGBClassifier
    XGBClassifier(n_estimators=3, max_depth=2).fit(*_data()).save_model(path)


@artifact("xgb_model.json", "xgboost-json", [])
def _(path: Path) -> None:
    from xgboost import XGBClassifier
    XGBClassifier(n_estimators=2, max_depth=2).fit(*_data()).save_model(path)


@artifact("lgbm_classifier.joblib", "joblib", ["lightgbm", "numpy", "joblib", "scikit-learn"])
def _(path: Path) -> None:
    from lightgbm import LGBMClassifier
    _joblib(LGBMClassifier(n_estimators=3, num_leaves=4, min_child_samples=2, verbose=-1).fit(*_data()), path)


@artifact("lgbm_booster.txt", "lightgbm-text", [])
def _(path: Path) -> None:
    from lightgbm import LGBMRegressor
    LGBMRegressor(n_estimators=3, num_leaves=4, min_child_samples=2, verbose=-1).fit(*_data()).booster_.save_model(
        str(path))


# -- PyTorch ---------------------------------------------------------------------------------------------------------
def _net() -> Any:
    import torch
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.BatchNorm1d(8),
                               torch.nn.Dropout(0.1), torch.nn.Linear(8, 2))


@artifact("torch_state_dict.pt", "torch-zip", ["torch"])
def _(path: Path) -> None:
    import torch
    torch.save(_net().state_dict(), path)


@artifact("torch_whole_module.pt", "torch-zip", ["torch"])
def _(path: Path) -> None:
    import torch
    torch.save(_net(), path)


@artifact("torch_checkpoint.ckpt", "torch-zip", ["torch"])
def _(path: Path) -> None:
    import torch
    net = _net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    torch.save({"epoch": 3, "model": net.state_dict(), "optimizer": optimizer.state_dict(), "loss": 0.25,
                "dtypes": {"half": torch.ones(2, dtype=torch.float16), "long": torch.arange(3),
                           "bool": torch.tensor([True]), "bf16": torch.ones(2, dtype=torch.bfloat16)}}, path)


@artifact("torch_state_dict_legacy.pt", "torch-legacy", ["torch"])
def _(path: Path) -> None:
    import torch
    torch.save(_net().state_dict(), path, _use_new_zipfile_serialization=False)


@artifact("torch_mixed_legacy.pth", "torch-legacy", ["torch"])
def _(path: Path) -> None:
    import torch
    torch.save({"w": torch.randn(3, 3), "ids": torch.arange(5), "mask": torch.tensor([True, False]),
                "half": torch.ones(4, dtype=torch.float16), "view": torch.arange(10.0)[2:5]}, path,
               _use_new_zipfile_serialization=False)


@artifact("torch_whole_module_legacy.pt", "torch-legacy", ["torch"])
def _(path: Path) -> None:
    import torch
    torch.save(_net(), path, _use_new_zipfile_serialization=False)


# -- safetensors, ONNX, Keras, JSON ---------------------------------------------------------------------------------
@artifact("model.safetensors", "safetensors", [])
def _(path: Path) -> None:
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in _net().state_dict().items() if v.dtype.is_floating_point}, str(path))


@artifact("model.onnx", "onnx", [])
def _(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np
    weight = numpy_helper.from_array(np.ones((4, 2), np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "tiny",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])], [weight])
    onnx.save(helper.make_model(graph, producer_name="packflow-corpus"), str(path))


def _keras_model() -> Any:
    import keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    hidden = keras.layers.Dropout(0.1)(hidden)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.BatchNormalization()(hidden))
    return keras.Model(inputs, outputs)


@artifact("keras_functional.keras", "keras-zip", ["keras", "h5py"])  # weights are model.weights.h5
def _(path: Path) -> None:
    _keras_model().save(path)


@artifact("keras_sequential.keras", "keras-zip", ["keras", "h5py"])
def _(path: Path) -> None:
    import keras
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.save(path)


@artifact("keras_legacy.h5", "h5", ["keras", "h5py"])
def _(path: Path) -> None:
    _keras_model().save(path)


@artifact("hf_config.json", "json", [])
def _(path: Path) -> None:
    path.write_text(json.dumps({"architectures": ["BertForSequenceClassification"], "hidden_size": 32,
                                "num_attention_heads": 2, "id2label": {"0": "neg", "1": "pos"}}, indent=2) + "\n")


@artifact("tokenizer.json", "json", [])
def _(path: Path) -> None:
    vocab = {token: index for index, token in enumerate(["[PAD]", "[UNK]", "hello", "world", "##s"])}
    path.write_text(json.dumps({"version": "1.0", "model": {"type": "WordPiece", "vocab": vocab}}) + "\n")


def make_corpus(out: Path) -> None:
    """Write every artifact and the manifest (format, needs, library versions)."""
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"made_by": "benchmarks/make_model_corpus.py", "python": sys.version.split()[0],
                                "libraries": {name: version(name) for name in LIBRARIES}, "files": {}}
    for name, (fmt, needs, make) in ARTIFACTS.items():
        make(out / name)
        manifest["files"][name] = {"format": fmt, "needs": needs, "bytes": (out / name).stat().st_size}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    total = sum(item["bytes"] for item in manifest["files"].values())
    print(f"{len(ARTIFACTS)} files, {total / 1e6:.2f} MB in {out}")


def make_big(out: Path) -> None:
    """The speed benchmark's files: a ~100 MB RandomForest joblib and a ~1 GiB torch-layout checkpoint."""
    import torch
    from sklearn.ensemble import RandomForestClassifier

    out.mkdir(parents=True, exist_ok=True)
    import numpy as np

    x, _ = _data(40000, 20, 3)
    y = np.random.default_rng(4).integers(0, 2, len(x))     # noise labels: fully grown trees, ~1 MB each
    forest = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=2).fit(x, y)
    _joblib(forest, out / "forest_big.joblib")
    state = {f"layer{i}.weight": torch.zeros(256, 1024) for i in range(1024)}
    torch.save(state, out / "checkpoint_big.pt")
    for path in sorted(out.iterdir()):
        print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__" and sys.argv[1:2] != ["--sweep"]:
    if len(sys.argv) > 2 and sys.argv[1] == "--big":
        make_big(Path(sys.argv[2]))
    else:
        make_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)


# -- the allow-list's measurement: pickle many real objects and list what loading them needs ------------------------
def _sweep_objects() -> dict[str, Any]:
    """Objects of every kind the allow-list must cover: every fitted scikit-learn estimator that fits on tiny data,
    pandas and NumPy values, SciPy sparse formats, PyTorch modules and optimizers, XGBoost and LightGBM models."""
    import warnings

    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    import torch
    from sklearn.utils import all_estimators

    warnings.filterwarnings("ignore")
    objects: dict[str, Any] = {}
    x, y = _data(40, 4)
    for name, cls in all_estimators():
        try:
            estimator = cls()
            estimator.fit(np.abs(x), y)
        except Exception:  # noqa: BLE001 - estimators that need other inputs or parameters are left out
            continue
        objects[f"sklearn {name}"] = estimator
    frame = _frame()
    objects.update({
        "pandas frame": frame, "pandas series": frame["income"], "pandas groups": frame.groupby("city").sum(
            numeric_only=True), "pandas interval": pd.interval_range(0, 5), "pandas sparse": pd.arrays.SparseArray(
            [0, 0, 1]), "pandas nullable": pd.array([1, None], dtype="Int64"), "pandas bool": pd.array([True, None],
            dtype="boolean"), "pandas string": pd.array(["a", None], dtype="string"), "pandas freq": pd.date_range(
            "2024", periods=3, freq="h"), "pandas nat": pd.NaT, "pandas td": pd.Timedelta("1D"),
        "pandas period": pd.Period("2024-01"), "pandas offsets": [pd.offsets.MonthEnd(), pd.offsets.Week(weekday=1)],
        "pandas float index": pd.Index([1.5, 2.5]), "pandas cat index": pd.CategoricalIndex(["a", "b"]),
    })
    objects.update({f"scipy {kind}": sp.random(6, 6, density=0.3, format=kind, random_state=0)
                    for kind in ("csr", "csc", "coo", "bsr", "dia", "lil", "dok")})
    objects.update({"numpy rng": np.random.RandomState(0), "numpy generator": np.random.default_rng(0),
                    "numpy masked": np.ma.masked_array([1, 2], mask=[0, 1]), "numpy matrix": np.matrix([[1, 2]]),
                    "numpy scalars": [np.int8(1), np.uint64(2), np.float32(1), np.bool_(True), np.str_("s"),
                                      np.datetime64("2024-01-01"), np.timedelta64(1, "D"), np.complex64(1j)],
                    "numpy record": np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])})
    layers = [torch.nn.Conv2d(1, 2, 3), torch.nn.LSTM(3, 4), torch.nn.GRU(3, 4), torch.nn.Embedding(5, 3),
              torch.nn.LayerNorm(3), torch.nn.MultiheadAttention(4, 2), torch.nn.TransformerEncoderLayer(4, 2, 8),
              torch.nn.GELU(), torch.nn.Sigmoid(), torch.nn.Softmax(dim=1), torch.nn.MaxPool2d(2),
              torch.nn.Flatten(), torch.nn.ModuleList([torch.nn.Tanh()]),
              torch.nn.ModuleDict({"a": torch.nn.Identity()})]
    objects["torch layers"] = layers
    net = _net()
    objects["torch optimizers"] = [torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9).state_dict(),
                                   torch.optim.AdamW(net.parameters()).state_dict()]
    scheduler = torch.optim.lr_scheduler.StepLR(torch.optim.SGD(net.parameters(), lr=0.1), 2)
    objects["torch scheduler"] = scheduler.state_dict()
    objects["torch tensors"] = {"sparse": torch.eye(3).to_sparse(), "int8": torch.ones(2, dtype=torch.int8),
                                "param": torch.nn.Parameter(torch.ones(2)), "size": torch.Size([2, 3]),
                                "device": torch.device("cpu"), "dtype": torch.float16}
    import lightgbm
    import xgboost
    objects["xgboost"] = [xgboost.XGBRegressor(n_estimators=2).fit(x, y), xgboost.XGBRFClassifier(n_estimators=2).fit(
        x, y), xgboost.XGBRanker(n_estimators=2).fit(x, y, group=[20, 20])]
    objects["lightgbm"] = [lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(x, y),
                           lightgbm.train({"verbose": -1}, lightgbm.Dataset(x, y), 2)]
    return objects


def sweep() -> None:
    """Scan every sweep object (pickled with protocols 2 and 5, and by joblib and torch.save) and print what the
    allow-list is missing: the globals loading needs that it does not permit, with the action refused."""
    import io
    import joblib
    import torch

    sys.path.insert(0, str(REPO))
    from packflow_export.modelfiles import scan_model_file

    missing: dict[str, set[str]] = {}
    for label, obj in _sweep_objects().items():
        blobs = [pickle.dumps(obj, protocol=2), pickle.dumps(obj, protocol=5)]
        buffer = io.BytesIO()
        joblib.dump(obj, buffer)
        blobs.append(buffer.getvalue())
        if label.startswith("torch"):
            buffer = io.BytesIO()
            torch.save(obj, buffer)
            blobs.append(buffer.getvalue())
        for blob in blobs:
            scan = scan_model_file(label, lambda blob=blob: io.BytesIO(blob))
            for issue in scan.issues:
                missing.setdefault(issue.subject, set()).add(f"{issue.kind.value} ({label})")
    for subject in sorted(missing):
        print(f"{subject}: {sorted(missing[subject])[:3]}")
    print(f"{len(missing)} subjects missing")


if __name__ == "__main__" and sys.argv[1:2] == ["--sweep"]:
    sweep()
