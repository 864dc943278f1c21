"""The NumPy alignment core against its references: simalign 0.4 itself and awesome-align's rule.

Parity runs simalign's own static methods (``get_similarity``, ``get_alignment_matrix``,
``iter_max``, ``get_max_weight_match``, ``apply_distortion``) and its ``get_word_aligns`` (with a
fake embedding loader, so no model is loaded) on random inputs and asserts identical links.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from torchfree import run_torch_free

from xner.runtime.alignment import methods as am
from xner.runtime.errors import ConfigError

N_CASES = 240


def _shapes(rng: np.random.Generator, count: int) -> list[tuple[int, int]]:
    """Random shapes in 1..40 x 1..40, always including 1xN, Nx1, 1x1, 2xN, Nx2 and 3x3."""
    fixed = [(1, 1), (1, 7), (9, 1), (1, 40), (40, 1), (2, 5), (6, 2), (3, 3), (2, 2), (40, 40)]
    rand = [tuple(int(x) for x in rng.integers(1, 41, size=2)) for _ in range(count - len(fixed))]
    return fixed + rand


@pytest.fixture(scope="module")
def sa():
    simalign = pytest.importorskip("simalign", reason="simalign (test extra) is the reference")
    return simalign.SentenceAligner


@pytest.fixture(scope="module")
def cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """Random float32 'hidden states' (as an ONNX encoder gives them), correlated a little so
    that rows and columns compete as in real alignments."""
    rng = np.random.default_rng(20240611)
    out = []
    for m, n in _shapes(rng, N_CASES):
        d = int(rng.integers(4, 33))
        base = rng.normal(size=(max(m, n), d))
        src = base[:m] + rng.normal(scale=1.5, size=(m, d))
        tgt = base[rng.permutation(max(m, n))[:n]] + rng.normal(scale=1.5, size=(n, d))
        out.append((src.astype(np.float32), tgt.astype(np.float32)))
    return out


def test_similarity_matches_simalign(sa, cases) -> None:
    bitwise = 0
    for src, tgt in cases:
        ref = sa.get_similarity(src, tgt)
        ours = am.similarity(src, tgt)
        assert ours.shape == ref.shape and ours.dtype == ref.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
        bitwise += bool(np.array_equal(ours, ref))
        ref64 = sa.get_similarity(src.astype(np.float64), tgt)
        np.testing.assert_allclose(am.similarity(src.astype(np.float64), tgt), ref64, atol=1e-12)
    assert bitwise == len(cases)  # same operations in the same order: identical floats


def test_similarity_zero_vector_is_half(sa) -> None:
    src = np.zeros((2, 4), dtype=np.float32)
    tgt = np.ones((3, 4), dtype=np.float32)
    np.testing.assert_array_equal(am.similarity(src, tgt), sa.get_similarity(src, tgt))
    assert np.all(am.similarity(src, tgt) == 0.5)


@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0, 2.5])
def test_distortion_matches_simalign(sa, cases, ratio) -> None:
    for src, tgt in cases:
        sim = sa.get_similarity(src, tgt)
        ref = sa.apply_distortion(sim, ratio)
        ours = am.apply_distortion(sim, ratio)
        assert ours.dtype == ref.dtype
        np.testing.assert_array_equal(ours, ref)


def test_argmax_matches_simalign(sa, cases) -> None:
    for src, tgt in cases:
        for ratio in (0.0, 0.5):
            sim = sa.apply_distortion(sa.get_similarity(src, tgt), ratio)
            fwd, rev = sa.get_alignment_matrix(sim)
            np.testing.assert_array_equal(am.argmax_alignment(sim), (fwd * rev) > 0)


def test_itermax_matches_simalign(sa, cases) -> None:
    grew = 0
    for src, tgt in cases:
        for ratio in (0.0, 0.5):
            sim = sa.apply_distortion(sa.get_similarity(src, tgt), ratio)
            ours = am.itermax_alignment(sim)
            np.testing.assert_array_equal(ours, sa.iter_max(sim) > 0)
            grew += int(ours.sum() > am.argmax_alignment(sim).sum())
            for rounds in (1, 3, 5):
                np.testing.assert_array_equal(
                    am.itermax_alignment(sim, max_count=rounds), sa.iter_max(sim, rounds) > 0
                )
    assert grew > len(cases) // 2  # the extra round is exercised, not just the argmax


def test_argmax_and_itermax_break_ties_like_simalign(sa) -> None:
    """Coarse values make ties frequent; both follow np.argmax's first-index rule."""
    rng = np.random.default_rng(7)
    for m, n in _shapes(rng, 120):
        sim = rng.integers(1, 4, size=(m, n)) / 4.0
        fwd, rev = sa.get_alignment_matrix(sim)
        np.testing.assert_array_equal(am.argmax_alignment(sim), (fwd * rev) > 0)
        for rounds in (2, 3):
            np.testing.assert_array_equal(
                am.itermax_alignment(sim, rounds), sa.iter_max(sim, rounds) > 0
            )


def test_match_matches_simalign(sa, cases) -> None:
    for src, tgt in cases:
        for ratio in (0.0, 0.5):
            sim = sa.apply_distortion(sa.get_similarity(src, tgt), ratio)
            ours = am.match_alignment(sim)
            np.testing.assert_array_equal(ours, sa.get_max_weight_match(sim) > 0)
            assert ours.sum() == min(sim.shape)
            assert ours.sum(axis=0).max() <= 1 and ours.sum(axis=1).max() <= 1


def test_match_with_missing_and_negative_edges_matches_simalign(sa) -> None:
    """simalign's graph has no edge for an exact zero; negative weights (distortion > 1) stay."""
    rng = np.random.default_rng(11)
    for m, n in _shapes(rng, 80):
        sim = rng.random((m, n)) * 2.0 - 0.5
        sim[rng.random((m, n)) < 0.4] = 0.0
        np.testing.assert_array_equal(am.match_alignment(sim), sa.get_max_weight_match(sim) > 0)


def test_linear_assignment_is_optimal_against_brute_force() -> None:
    import itertools

    rng = np.random.default_rng(3)
    for m, n in [(1, 1), (1, 4), (4, 1), (3, 5), (5, 3), (6, 6), (4, 7)]:
        w = rng.normal(size=(m, n))
        rows, cols = am.linear_assignment(w)
        k = min(m, n)
        if m <= n:
            best = max(w[range(m), list(p)].sum() for p in itertools.permutations(range(n), m))
        else:
            best = max(w[list(p), range(n)].sum() for p in itertools.permutations(range(m), n))
        assert len(rows) == k and len(set(cols.tolist())) == k and list(rows) == sorted(rows)
        assert math.isclose(w[rows, cols].sum(), best, rel_tol=0, abs_tol=1e-12)


# --- words ---------------------------------------------------------------------------------------


class _FakeTokenizer:
    """Splits a word into pieces of at most 3 characters ('' gives no subword)."""

    def tokenize(self, word: str) -> list[str]:
        return [word[k : k + 3] for k in range(0, len(word), 3)]


class _Array:
    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    def cpu(self) -> _Array:
        return self

    def detach(self) -> _Array:
        return self

    def numpy(self) -> np.ndarray:
        return self.data


class _FakeLoader:
    """Stands in for simalign's EmbeddingLoader: gives fixed vectors padded to one length."""

    tokenizer = _FakeTokenizer()

    def __init__(self, src: np.ndarray, tgt: np.ndarray) -> None:
        length = max(len(src), len(tgt)) + 1
        self.batch = np.zeros((2, length, src.shape[1]), dtype=np.float32)
        self.batch[0, : len(src)] = src
        self.batch[1, : len(tgt)] = tgt

    def get_embed_list(self, sentences: list[list[str]]) -> _Array:
        return _Array(self.batch)


def _random_sentence(rng: np.random.Generator, n_words: int) -> list[str]:
    letters = np.array(list("abcdefghij"))
    return ["".join(rng.choice(letters, size=int(rng.integers(1, 10)))) for _ in range(n_words)]


def _word_ids(tokenizer: _FakeTokenizer, words: list[str]) -> np.ndarray:
    return np.array([i for i, w in enumerate(words) for _ in tokenizer.tokenize(w)], dtype=np.int64)


@pytest.mark.parametrize("distortion", [0.0, 0.5])
def test_word_alignments_match_simalign_get_word_aligns(sa, distortion) -> None:
    """End to end over words: simalign's bpe aggregation is 'any subword pair' too."""
    rng = np.random.default_rng(99)
    names = {"inter": "argmax", "itermax": "itermax", "mwmf": "match"}
    for _ in range(60):
        src_words = _random_sentence(rng, int(rng.integers(1, 12)))
        tgt_words = _random_sentence(rng, int(rng.integers(1, 12)))
        tok = _FakeTokenizer()
        src_ids, tgt_ids = _word_ids(tok, src_words), _word_ids(tok, tgt_words)
        d = 12
        src = rng.normal(size=(len(src_ids), d)).astype(np.float32)
        tgt = rng.normal(size=(len(tgt_ids), d)).astype(np.float32)
        aligner = object.__new__(sa)
        aligner.token_type, aligner.distortion = "bpe", distortion
        aligner.matching_methods = list(names)
        aligner.embed_loader = _FakeLoader(src, tgt)
        ref = aligner.get_word_aligns(src_words, tgt_words)
        for sa_name, method in names.items():
            ours = am.extract_alignment(
                src, tgt, method, src_word_ids=src_ids, tgt_word_ids=tgt_ids,
                n_src_words=len(src_words), n_tgt_words=len(tgt_words), distortion=distortion,
            )  # fmt: skip
            assert ours.dtype == np.int64 and ours.shape[1] == 2
            assert [tuple(p) for p in ours.tolist()] == ref[sa_name]


def test_word_alignment_any_subword_pair() -> None:
    links = np.zeros((4, 3), dtype=bool)
    links[0, 2] = links[1, 2] = links[3, 0] = links[3, 1] = True
    out = am.word_alignment(links, np.array([0, 0, 1, 2]), np.array([0, 0, 1]), 3, 2)
    np.testing.assert_array_equal(out, [[0, 1], [2, 0]])
    assert out.dtype == np.int64


def test_word_alignment_random_against_loop() -> None:
    rng = np.random.default_rng(5)
    for _ in range(100):
        m, n = (int(x) for x in rng.integers(0, 15, size=2))
        links = rng.random((m, n)) < 0.2
        src_ids = np.sort(rng.integers(0, max(m, 1), size=m))
        tgt_ids = np.sort(rng.integers(0, max(n, 1), size=n))
        pairs = zip(*np.nonzero(links), strict=True)
        want = sorted({(int(src_ids[a]), int(tgt_ids[b])) for a, b in pairs})
        got = am.word_alignment(links, src_ids, tgt_ids, max(m, 1), max(n, 1))
        assert [tuple(p) for p in got.tolist()] == want


def test_word_ids_are_checked() -> None:
    links = np.ones((2, 2), dtype=bool)
    with pytest.raises(ValueError, match="source word ids"):
        am.word_alignment(links, np.array([0, 2]), np.array([0, 1]), 2, 2)
    with pytest.raises(ValueError, match="target word ids have shape"):
        am.word_alignment(links, np.array([0, 1]), np.array([0]), 2, 2)


# --- AWESoME softmax -----------------------------------------------------------------------------


def _softmax_reference(src: np.ndarray, tgt: np.ndarray, threshold: float) -> np.ndarray:
    """awesome-align's rule written out cell by cell with math.exp."""
    m, n = len(src), len(tgt)
    scores = [[float(np.dot(src[i].astype(float), tgt[j].astype(float))) for j in range(n)]
              for i in range(m)]  # fmt: skip
    out = np.zeros((m, n), dtype=bool)
    for i in range(m):
        for j in range(n):
            row_max, col_max = max(scores[i]), max(scores[k][j] for k in range(m))
            p_fwd = math.exp(scores[i][j] - row_max) / sum(math.exp(s - row_max) for s in scores[i])
            p_bwd = math.exp(scores[i][j] - col_max) / sum(
                math.exp(scores[k][j] - col_max) for k in range(m)
            )
            out[i, j] = p_fwd > threshold and p_bwd > threshold
    return out


def test_softmax_matches_reference(cases) -> None:
    linked = 0
    for src, tgt in cases[:120]:
        for threshold in (0.001, 0.1):
            ours = am.softmax_alignment(src * 3.0, tgt * 3.0, threshold)
            np.testing.assert_array_equal(ours, _softmax_reference(src * 3.0, tgt * 3.0, threshold))
            linked += int(ours.sum())
    assert linked > 0


def test_softmax_uses_raw_dot_products() -> None:
    """Scaling a vector sharpens its softmax (cosine would not change)."""
    src = np.array([[1.0, 0.0]])
    tgt = np.array([[1.0, 0.0], [0.8, 0.6]])  # scores 1 and 0.8: probabilities 0.55 and 0.45
    assert am.softmax_alignment(src, tgt, 0.3).tolist() == [[True, True]]
    assert am.softmax_alignment(src * 20, tgt, 0.3).tolist() == [[True, False]]  # 0.98, 0.02


def test_softmax_is_numerically_stable() -> None:
    src = np.full((2, 3), 500.0)
    tgt = np.full((2, 3), 500.0)
    assert am.softmax_alignment(src, tgt).all()


# --- registry, options and edge cases -----------------------------------------------------------


def test_registry_lists_methods_and_refuses_unknown() -> None:
    assert am.available_methods() == ("argmax", "itermax", "match", "softmax")
    with pytest.raises(ConfigError, match="argmax, itermax, match, softmax") as err:
        am.get_method("itermx")
    assert "Did you mean itermax" in str(err.value)
    with pytest.raises(ValueError, match="already registered"):
        am.register_method("argmax")(lambda s, t, o: np.zeros((len(s), len(t)), dtype=bool))


@pytest.mark.parametrize("method", ["argmax", "itermax", "match", "softmax"])
@pytest.mark.parametrize("m,n", [(0, 0), (0, 5), (4, 0)])
def test_empty_side_gives_no_links(method, m, n) -> None:
    out = am.extract_alignment(
        np.zeros((m, 8), dtype=np.float32), np.zeros((n, 8), dtype=np.float32), method,
        src_word_ids=np.zeros(m, dtype=np.int64), tgt_word_ids=np.zeros(n, dtype=np.int64),
        n_src_words=1 if m else 0, n_tgt_words=1 if n else 0,
    )  # fmt: skip
    assert out.shape == (0, 2) and out.dtype == np.int64


@pytest.mark.parametrize("method", ["argmax", "itermax", "match", "softmax"])
def test_single_subword_each_side(method) -> None:
    one = np.ones((1, 4), dtype=np.float32)
    out = am.extract_alignment(
        one, 2 * one, method, src_word_ids=np.array([0]), tgt_word_ids=np.array([0]),
        n_src_words=1, n_tgt_words=1,
    )  # fmt: skip
    np.testing.assert_array_equal(out, [[0, 0]])


def test_match_drops_zero_similarity_like_simalign(sa) -> None:
    """cos = -1 gives similarity 0 exactly, which simalign's sparse graph has no edge for."""
    one = np.ones((1, 4), dtype=np.float32)
    sim = am.similarity(one, -one)
    assert sim.tolist() == [[0.0]]
    assert not am.match_alignment(sim).any() and not sa.get_max_weight_match(sim).any()
    assert am.argmax_alignment(sim).all()  # argmax has no such exception


def test_extract_alignment_sorted_pairs() -> None:
    rng = np.random.default_rng(1)
    src, tgt = rng.normal(size=(9, 6)), rng.normal(size=(7, 6))
    for method in am.available_methods():
        out = am.extract_alignment(
            src, tgt, method, src_word_ids=np.arange(9) // 2, tgt_word_ids=np.arange(7) // 2,
            n_src_words=5, n_tgt_words=4,
        )  # fmt: skip
        assert out.tolist() == sorted(out.tolist()) and len(out) == len(np.unique(out, axis=0))


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="not softmax"):
        am.subword_alignment(np.ones((2, 3)), np.ones((2, 3)), "softmax", am.AlignmentOptions(0.5))
    for bad in (
        {"distortion": -0.1},
        {"distortion": float("nan")},
        {"threshold": 1.0},
        {"max_count": 0},
        {"max_count": 1.5},
        {"alpha_ratio": 1.2},
    ):
        with pytest.raises(ConfigError):
            am.AlignmentOptions(**bad)


def test_mismatched_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[m, d\] and \[n, d\]"):
        am.similarity(np.ones((2, 3)), np.ones((2, 4)))


def test_module_is_torch_free() -> None:
    result = run_torch_free(
        """
        import numpy as np
        from xner.runtime.alignment.methods import extract_alignment
        v = 10 * np.eye(3, dtype=np.float32)
        for method in ("argmax", "itermax", "match", "softmax"):
            out = extract_alignment(v, v, method, src_word_ids=np.arange(3),
                                    tgt_word_ids=np.arange(3), n_src_words=3, n_tgt_words=3)
            assert out.tolist() == [[0, 0], [1, 1], [2, 2]], (method, out)
        """
    )
    assert result.returncode == 0, result.stderr
