"""Tests of model-free annotation projection (xner.runtime.projection).

Hand-made cases pin every option and edge case; property tests check that outputs are always
valid and identical to the plain-Python reference in bench/reference_projection.py; exact
matching is checked against brute force.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xner.runtime.data import Alignment, Span
from xner.runtime.errors import ConfigError
from xner.runtime.projection import (
    HeuristicOptions,
    Match,
    NgramOptions,
    Projected,
    ProjectionItem,
    available_methods,
    available_variants,
    match_entities,
    match_entities_batch,
    method_info,
    option,
    option_fields,
    project,
    project_batch,
    project_results,
    project_tags,
    register_method,
    register_variant,
    resolve_method,
    unregister_method,
)
from xner.runtime.tags import spans_from_tags, tags_from_spans, validate_tags

ROOT = Path(__file__).resolve().parents[1]


def _load_reference():
    path = ROOT / "bench" / "reference_projection.py"
    spec = importlib.util.spec_from_file_location("reference_projection", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

PER, LOC, ORG = "PER", "LOC", "ORG"


def heur(spans, links, n, tokens=None, **options):
    return project(spans, links, n, "heuristic", HeuristicOptions(**options), tokens)


def ngram(spans, links, n, tokens=None, candidates=None, **options):
    return project(spans, links, n, "ngram", NgramOptions(**options), tokens, candidates)


def total(matches) -> float:
    return sum(m.score for m in matches)


def assert_valid(spans, n_tgt, labels):
    """In bounds, sorted, non-overlapping, labels from the source, and valid IOB2 both ways."""
    assert spans == sorted(spans)
    for span in spans:
        assert 0 <= span.start < span.end <= n_tgt
        assert span.label in labels
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.end <= b.start
    tags = tags_from_spans(spans, n_tgt)
    validate_tags(tags, "IOB2", strict=True)
    assert spans_from_tags(tags) == spans


# --------------------------------------------------------------------------- registry, inputs


SHIPPED_METHODS = ("back-translation", "ensemble", "heuristic", "markers", "ngram")


def test_methods_registered():
    assert available_methods() == SHIPPED_METHODS


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ConfigError, match="ensemble, heuristic, markers, ngram"):
        project([Span(0, 1, PER)], [(0, 0)], 1, method="ngramm")


def test_register_twice_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_method("heuristic", HeuristicOptions)(lambda inputs, options: [])


@pytest.mark.parametrize(
    ("factory", "kwargs", "match"),
    [
        (HeuristicOptions, {"keep": "biggest"}, "all, largest"),
        (HeuristicOptions, {"collisions": "last"}, "first, longer, overwrite"),
        (HeuristicOptions, {"merge_distance": -1}, "merge_distance"),
        (HeuristicOptions, {"merge_distance": 1.5}, "merge_distance"),
        (HeuristicOptions, {"length_ratio": -0.1}, "length_ratio"),
        (NgramOptions, {"max_len": 0}, "max_len"),
        (NgramOptions, {"stop_words": "!?"}, "stop_words"),
        (NgramOptions, {"max_states": 0}, "max_states"),
    ],
)
def test_bad_options(factory, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        factory(**kwargs)


def test_options_as_mapping_and_wrong_type():
    spans, links = [Span(0, 1, PER)], [(0, 0), (0, 3)]
    assert project(spans, links, 5, options={"keep": "largest"}) == [Span(0, 1, PER)]
    with pytest.raises(ConfigError, match="merge_distance"):
        project(spans, links, 5, options={"merge_dist": 1})
    with pytest.raises(ConfigError, match="HeuristicOptions"):
        project(spans, links, 5, options=NgramOptions())
    assert NgramOptions(stop_words=["."]).stop_words == (".",)


def test_out_of_range_links_raise_value_error():
    with pytest.raises(ValueError, match=r"link 5-3 points past the target sentence \(3 words\)"):
        project([Span(0, 1, PER)], [(0, 0), (5, 3)], 3)
    with pytest.raises(ValueError, match="negative"):
        project([Span(0, 1, PER)], [(0, -1)], 3, method="ngram")
    with pytest.raises(ValueError, match="integer"):
        project([Span(0, 1, PER)], np.array([[0.0, 1.5]]), 3)
    with pytest.raises(ValueError, match="empty"):
        project([Span(2, 2, PER)], [(0, 0)], 3)
    with pytest.raises(ValueError, match="2 target tokens"):
        project([Span(0, 1, PER)], [(0, 0)], 3, method="ngram", target_tokens=["a", "b"])
    with pytest.raises(ValueError, match="candidate"):
        ngram([Span(0, 1, PER)], [(0, 0)], 3, candidates=[(2, 4)])


def test_alignment_forms_agree_and_duplicates_count_once():
    spans = [Span(0, 2, PER), Span(3, 4, LOC)]
    pairs = [(0, 1), (1, 2), (3, 0)]
    expected = [Span(0, 1, LOC), Span(1, 3, PER)]
    assert heur(spans, pairs, 4) == expected
    assert heur(spans, np.array(pairs), 4) == expected
    assert heur(spans, Alignment.from_pairs(pairs), 4) == expected
    # a repeated link is one link: [1, 2) scores 2*1/(1+1) = 1, not 2*2/2
    matches = match_entities([Span(0, 1, PER)], [(0, 1), (0, 1)], 3)
    assert [m.score for m in matches] == [1.0]


def test_entities_taken_in_source_order_whatever_the_list_order():
    spans = [Span(2, 3, LOC), Span(0, 2, PER)]
    links = [(0, 0), (1, 1), (2, 1)]
    assert heur(spans, links, 3) == heur(sorted(spans), links, 3)
    assert heur(spans, links, 3) == [Span(0, 1, PER), Span(1, 2, LOC)]


def test_project_tags():
    tags = project_tags([Span(0, 2, PER)], [(0, 1), (1, 2)], 4)
    assert tags == ["O", "B-PER", "I-PER", "O"]
    assert project_tags([], [], 0) == []


# --------------------------------------------------------------------------- heuristic


@pytest.mark.parametrize("method", ["heuristic", "ngram"])
def test_empty_inputs(method):
    assert project([Span(0, 1, PER)], [], 0, method=method) == []
    assert project([Span(0, 1, PER)], [], 5, method=method) == []
    assert project([], [(0, 1)], 5, method=method) == []
    assert project_tags([Span(0, 1, PER)], [], 3, method=method) == ["O", "O", "O"]


def test_one_word_entity():
    assert heur([Span(0, 1, PER)], [(0, 2)], 4) == [Span(2, 3, PER)]


def test_gap_of_one_word_is_merged_by_default():
    # entity of 2 words -> target words 0 and 2: one merged run [0, 3) (3/2 > 0.8)
    assert heur([Span(0, 2, PER)], [(0, 0), (1, 2)], 4) == [Span(0, 3, PER)]


def test_merge_distance_zero_merges_nothing():
    # runs [0, 1) and [2, 3), each 1/2 of the entity: both dropped
    assert heur([Span(0, 2, PER)], [(0, 0), (1, 2)], 4, merge_distance=0) == []


def test_gap_of_two_words():
    spans, links = [Span(0, 2, PER)], [(0, 0), (1, 3)]
    assert heur(spans, links, 5) == []  # not merged; 1/2 each, dropped
    assert heur(spans, links, 5, merge_distance=2) == [Span(0, 4, PER)]
    # an entity of one word keeps both unmerged runs (1/1 > 0.8)
    assert heur([Span(0, 1, PER)], [(0, 0), (0, 3)], 5) == [Span(0, 1, PER), Span(3, 4, PER)]


def test_length_ratio_is_strict():
    spans = [Span(0, 5, ORG)]
    four = [(i, i) for i in range(4)]
    assert heur(spans, four, 6) == []  # 4/5 == 0.8 is not > 0.8
    assert heur(spans, four, 6, length_ratio=0.79) == [Span(0, 4, ORG)]
    assert heur(spans, [(i, i) for i in range(5)], 6) == [Span(0, 5, ORG)]
    # a run longer than the entity is kept: ratio 3/1
    assert heur([Span(0, 1, ORG)], [(0, 0), (0, 1), (0, 2)], 3) == [Span(0, 3, ORG)]


def test_crossing_links():
    spans = [Span(0, 2, PER), Span(2, 3, LOC)]
    links = [(0, 3), (1, 2), (2, 0)]
    assert heur(spans, links, 4) == [Span(0, 1, LOC), Span(2, 4, PER)]
    assert ngram(spans, links, 4) == [Span(0, 1, LOC), Span(2, 4, PER)]


def test_keep_all_versus_largest():
    spans, links = [Span(0, 1, PER)], [(0, 0), (0, 3), (0, 4)]
    assert heur(spans, links, 6) == [Span(0, 1, PER), Span(3, 5, PER)]
    assert heur(spans, links, 6, keep="largest") == [Span(3, 5, PER)]
    # a tie goes to the leftmost run
    tie = [(0, 0), (0, 3)]
    assert heur(spans, tie, 5, keep="largest") == [Span(0, 1, PER)]
    # largest is chosen among the runs that survive the length filter
    two = [Span(0, 2, PER)]
    assert heur(two, [(0, 0), (1, 0), (0, 4)], 6, keep="largest") == []


class TestCollisions:
    # PER (source 0-1) -> target [0, 4); LOC (source 2) -> target [1, 2), inside it
    INSIDE = ([Span(0, 2, PER), Span(2, 3, LOC)], [(0, 0), (0, 1), (1, 2), (1, 3), (2, 1)], 5)
    # PER (source 0) -> [2, 3); LOC (source 1-2) -> [1, 4): the later run covers the earlier
    COVERED = ([Span(0, 1, PER), Span(1, 3, LOC)], [(0, 2), (1, 1), (1, 2), (2, 3)], 5)
    # PER (source 0-1) -> [0, 3); LOC (source 2) -> [2, 4): overlap at one end
    END = ([Span(0, 2, PER), Span(2, 3, LOC)], [(0, 0), (0, 1), (1, 2), (2, 2), (2, 3)], 5)

    def test_overwrite_splits_the_earlier_run(self):
        assert heur(*self.INSIDE) == [Span(0, 1, PER), Span(1, 2, LOC), Span(2, 4, PER)]
        assert heur(*self.COVERED) == [Span(1, 4, LOC)]
        assert heur(*self.END) == [Span(0, 2, PER), Span(2, 4, LOC)]

    def test_overwrite_keeps_pieces_apart_with_equal_labels(self):
        spans = [Span(0, 2, PER), Span(2, 3, PER)]
        links = [(0, 0), (0, 1), (1, 2), (2, 1)]
        assert heur(spans, links, 3) == [Span(0, 1, PER), Span(1, 2, PER), Span(2, 3, PER)]

    def test_first(self):
        assert heur(*self.INSIDE, collisions="first") == [Span(0, 4, PER)]
        assert heur(*self.COVERED, collisions="first") == [Span(2, 3, PER)]
        assert heur(*self.END, collisions="first") == [Span(0, 3, PER)]

    def test_longer(self):
        assert heur(*self.INSIDE, collisions="longer") == [Span(0, 4, PER)]
        assert heur(*self.COVERED, collisions="longer") == [Span(1, 4, LOC)]
        # [0, 3) is longer than [2, 4): PER wins although LOC comes later
        assert heur(*self.END, collisions="longer") == [Span(0, 3, PER)]

    def test_longer_tie_goes_to_the_earlier_entity(self):
        spans = [Span(0, 1, PER), Span(1, 2, LOC)]
        links = [(0, 0), (0, 1), (1, 1), (1, 2)]  # [0, 2) and [1, 3)
        assert heur(spans, links, 3, collisions="longer") == [Span(0, 2, PER)]
        assert heur(spans, links, 3, collisions="overwrite") == [Span(0, 1, PER), Span(1, 3, LOC)]


# --------------------------------------------------------------------------- n-gram


def test_ngram_basic_and_scores():
    matches = match_entities([Span(0, 2, PER)], [(0, 1), (1, 2)], 4)
    assert [(m.entity, m.span, m.score) for m in matches] == [(0, Span(1, 3, PER), 1.0)]


def test_ngram_stop_words_need_tokens():
    spans, links = [Span(0, 2, PER)], [(0, 1), (1, 3)]
    tokens = ["a", "b", "!", "c", "d"]
    # [1, 4): 2*2/(2+3) = 0.8 beats [1, 2): 2/3
    assert ngram(spans, links, 5) == [Span(1, 4, PER)]
    assert ngram(spans, links, 5, tokens=tokens) == [Span(1, 2, PER)]
    assert ngram(spans, links, 5, tokens=tokens, stop_words=()) == [Span(1, 4, PER)]
    assert ngram(spans, links, 5, tokens=["a", "b", "x", "c", "d"], stop_words=["x"]) == [
        Span(1, 2, PER)
    ]


def test_ngram_max_len():
    spans, links = [Span(0, 2, PER)], [(0, 1), (1, 3)]
    assert ngram(spans, links, 5, max_len=3) == [Span(1, 4, PER)]
    assert ngram(spans, links, 5, max_len=2) == [Span(1, 2, PER)]


def test_all_spans_given_as_candidates_equal_generated_ngrams():
    spans, links, n_tgt, tokens = _realistic(6, 30, seed=3, noise=0.2)
    every = [(s, t) for s in range(n_tgt) for t in range(s + 1, n_tgt + 1)]
    for exact in (False, True):
        options = {"exact": exact}
        given_all = match_entities(spans, links, n_tgt, options, None, every)
        assert given_all == match_entities(spans, links, n_tgt, options)
        assert given_all == match_entities(spans, links, n_tgt, options, None, np.array(every))


def test_ngram_given_candidates():
    spans = [Span(0, 2, PER), Span(2, 3, LOC)]
    links = [(0, 1), (1, 2), (2, 4)]
    tokens = ["a", "b", "!", "c", "d"]
    cands = [(0, 1), Span(1, 3, "X"), (3, 5)]
    # given candidates are used as given: [1, 3) holds "!" and is still matched
    out = ngram(spans, links, 5, tokens=tokens, candidates=cands)
    assert out == [Span(1, 3, PER), Span(3, 5, LOC)]
    # a candidate with no link is never chosen
    assert ngram(spans, links, 5, candidates=[(0, 1)]) == []


def test_ngram_greedy_tie_rules():
    # lowest entity first: both entities link only word 1
    spans = [Span(0, 1, PER), Span(1, 2, LOC)]
    assert ngram(spans, [(0, 1), (1, 1)], 3) == [Span(1, 2, PER)]
    # leftmost start: [0, 1) and [2, 3) both score 1
    assert ngram([Span(0, 1, PER)], [(0, 0), (0, 2)], 3, max_len=1) == [Span(0, 1, PER)]
    # shortest: [2, 3) (2/2) and [2, 5) (2*2/4) both score 1 and start at 2
    assert ngram([Span(0, 1, PER)], [(0, 2), (0, 4)], 6) == [Span(2, 3, PER)]


def test_ngram_at_most_one_span_per_entity_and_no_overlap():
    spans = [Span(0, 1, PER)]
    out = ngram(spans, [(0, 0), (0, 3)], 5)
    assert len(out) == 1
    # B cannot take the word A took
    spans = [Span(0, 2, PER), Span(2, 3, LOC)]
    out = match_entities(spans, [(0, 0), (1, 1), (2, 1)], 3)
    assert [(m.entity, m.span) for m in out] == [(0, Span(0, 2, PER))]


def test_exact_beats_greedy_where_greedy_is_suboptimal():
    # A (word 0) links target 1 and 2: [1, 3) scores 4/3, [1, 2) scores 1.
    # B (word 1) links only target 2: [2, 3) scores 1. Greedy gives A [1, 3) (total 4/3);
    # exact gives A [1, 2) and B [2, 3) (total 2).
    spans = [Span(0, 1, PER), Span(1, 2, LOC)]
    links = [(0, 1), (0, 2), (1, 2)]
    greedy = match_entities(spans, links, 4)
    exact = match_entities(spans, links, 4, options={"exact": True})
    assert [m.span for m in greedy] == [Span(1, 3, PER)]
    assert [m.span for m in exact] == [Span(1, 2, PER), Span(2, 3, LOC)]
    assert total(greedy) == pytest.approx(4 / 3)
    assert total(exact) == pytest.approx(2.0)


def test_exact_handles_realistic_sizes_without_fallback(caplog):
    spans, links, n_tgt, tokens = _realistic(20, 200, seed=1)
    with caplog.at_level(logging.WARNING, logger="xner"):
        exact = match_entities(spans, links, n_tgt, options={"exact": True})
    assert not caplog.records
    greedy = match_entities(spans, links, n_tgt)
    assert total(exact) >= total(greedy) - 1e-9
    assert_valid([m.span for m in exact], n_tgt, {PER, LOC, ORG})


def test_exact_state_budget_falls_back_to_greedy_with_a_warning(caplog):
    spans = [Span(i, i + 1, PER) for i in range(4)]
    links = [(i, j) for i in range(4) for j in range(4)]  # everyone links everything
    with caplog.at_level(logging.WARNING, logger="xner"):
        out = match_entities(spans, links, 4, options={"exact": True, "max_states": 2})
    assert any("greedy matching" in r.getMessage() for r in caplog.records)
    assert len({m.entity for m in out}) == len(out) > 0
    assert_valid(sorted(m.span for m in out), 4, {PER})
    full = match_entities(spans, links, 4, options={"exact": True})
    assert total(full) == pytest.approx(4.0)  # four one-word spans, 1 each


def test_heuristic_takes_no_candidates():
    with pytest.raises(ConfigError, match="ngram"):
        project([Span(0, 1, PER)], [(0, 0)], 2, candidates=[(0, 1)])


# --------------------------------------------------------------------------- property tests

LABELS = (PER, LOC, ORG)
TOKENS = ("a", "b", "c", "!", "?")


@st.composite
def instances(draw, max_src=8, max_tgt=10, max_entities=4):
    n_src = draw(st.integers(1, max_src))
    n_tgt = draw(st.integers(0, max_tgt))
    cuts = sorted(draw(st.sets(st.integers(0, n_src), max_size=2 * max_entities)))
    spans = [
        Span(cuts[k], cuts[k + 1], draw(st.sampled_from(LABELS)))
        for k in range(0, len(cuts) - 1, 2)
    ]
    links = []
    if n_tgt:
        link = st.tuples(st.integers(0, n_src - 1), st.integers(0, n_tgt - 1))
        links = draw(st.lists(link, max_size=2 * max(n_src, n_tgt)))
    tokens = draw(st.lists(st.sampled_from(TOKENS), min_size=n_tgt, max_size=n_tgt))
    return spans, links, n_tgt, tokens


heuristic_options = st.builds(
    HeuristicOptions,
    merge_distance=st.integers(0, 3),
    length_ratio=st.sampled_from([0.0, 0.5, 0.8, 1.0, 1.5]),
    keep=st.sampled_from(["all", "largest"]),
    collisions=st.sampled_from(["overwrite", "first", "longer"]),
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(instances(), heuristic_options)
def test_heuristic_matches_reference_and_is_valid(instance, options):
    spans, links, n_tgt, _ = instance
    out = project(spans, links, n_tgt, "heuristic", options)
    expected = ref.heuristic(
        spans,
        links,
        n_tgt,
        options.merge_distance,
        options.length_ratio,
        options.keep,
        options.collisions,
    )
    assert out == expected
    assert_valid(out, n_tgt, {s.label for s in spans})


@st.composite
def candidate_lists(draw, n_tgt):
    """None (generated n-grams), a few random spans, or a dense random subset of all spans."""
    mode = draw(st.sampled_from(["none", "sparse", "dense"]))
    if n_tgt == 0 or mode == "none":
        return None
    every = [(s, t) for s in range(n_tgt) for t in range(s + 1, n_tgt + 1)]
    if mode == "dense":
        return [
            c
            for c, keep in zip(
                every,
                draw(st.lists(st.booleans(), min_size=len(every), max_size=len(every))),
                strict=True,
            )
            if keep
        ]
    return draw(st.lists(st.sampled_from(every), max_size=8))


@FAST
@given(st.data())
def test_ngram_greedy_matches_reference_and_is_valid(data):
    spans, links, n_tgt, tokens = data.draw(instances())
    max_len = data.draw(st.sampled_from([None, 1, 2, 4]))
    use_tokens = data.draw(st.booleans())
    cands = data.draw(candidate_lists(n_tgt))
    tok = tokens if use_tokens else None
    matches = match_entities(spans, links, n_tgt, {"max_len": max_len}, tok, cands)
    out = [m.span for m in matches]
    assert out == ref.ngram_greedy(spans, links, n_tgt, max_len, ("!", "?"), tok, cands)
    assert_valid(out, n_tgt, {s.label for s in spans})
    entities = [m.entity for m in matches]
    assert len(set(entities)) == len(entities)
    ordered = sorted(spans)
    assert all(ordered[m.entity].label == m.span.label for m in matches)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_exact_equals_brute_force_and_beats_greedy(data):
    spans, links, n_tgt, tokens = data.draw(instances(max_src=6, max_tgt=6, max_entities=3))
    cands = data.draw(candidate_lists(n_tgt))
    tok = tokens if data.draw(st.booleans()) else None
    exact = match_entities(spans, links, n_tgt, {"exact": True}, tok, cands)
    greedy = match_entities(spans, links, n_tgt, {"exact": False}, tok, cands)
    all_cands = ref.ngram_candidates(n_tgt, None, ("!", "?"), tok, cands)
    scores = ref.ngram_scores(spans, links, all_cands)
    assert total(exact) == pytest.approx(ref.brute_force_best_total(scores, all_cands), abs=1e-9)
    assert total(exact) >= total(greedy) - 1e-9
    out = [m.span for m in exact]
    assert_valid(out, n_tgt, {s.label for s in spans})
    assert len({m.entity for m in exact}) == len(exact)
    for m in exact:  # reported scores are the true scores of the pairs
        k = all_cands.index((m.span.start, m.span.end))
        assert m.score == pytest.approx(scores[m.entity][k])


def test_exact_equals_brute_force_on_dense_links():
    """Four entities, seven target words, dense links: greedy is usually not optimal here."""
    rng = random.Random(7)
    better = 0
    for _ in range(60):
        spans = [Span(2 * k, 2 * k + rng.randint(1, 2), rng.choice(LABELS)) for k in range(4)]
        links = [(i, j) for i in range(8) for j in range(7) if rng.random() < 0.35]
        exact = total(match_entities(spans, links, 7, {"exact": True}))
        greedy = total(match_entities(spans, links, 7))
        cands = ref.ngram_candidates(7)
        best = ref.brute_force_best_total(ref.ngram_scores(spans, links, cands), cands)
        assert exact == pytest.approx(best, abs=1e-9)
        better += exact > greedy + 1e-9
    assert better > 30  # the instances do exercise the exact search


def test_exact_with_many_stray_links_stays_exact_and_fast(caplog):
    """Stray links join all entities into one component; bounding keeps the search small."""
    rng = random.Random(5)
    spans = [Span(s, s + rng.randint(1, 4), PER) for s in sorted(rng.sample(range(0, 176, 5), 20))]
    links = []
    for i in range(180):
        links.append((i, max(0, min(199, round(i * 200 / 180) + rng.choice((-1, 0, 0, 1))))))
        links += [(i, rng.randrange(200)) for _ in range(3) if rng.random() < 0.5]
    with caplog.at_level(logging.WARNING, logger="xner"):
        exact = match_entities(spans, links, 200, {"exact": True})
    assert not caplog.records  # solved exactly, no greedy fallback
    assert total(exact) >= total(match_entities(spans, links, 200)) - 1e-9
    assert_valid([m.span for m in exact], 200, {PER})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000))
def test_exact_beats_greedy_on_bigger_random_sentences(seed):
    spans, links, n_tgt, _ = _realistic(8, 40, seed=seed, noise=0.3)
    exact = match_entities(spans, links, n_tgt, {"exact": True})
    greedy = match_entities(spans, links, n_tgt)
    assert total(exact) >= total(greedy) - 1e-9
    assert_valid([m.span for m in exact], n_tgt, {PER, LOC, ORG})


# --------------------------------------------------------------------------- batches


def test_batch_items_and_results_in_order():
    a = ([Span(0, 2, PER)], [(0, 1), (1, 2)], 4)
    b = ([Span(0, 1, LOC)], np.array([[0, 0]]), 2, ["x", "y"])
    c = ProjectionItem([], [], 0)
    d = ([Span(1, 2, ORG)], Alignment.from_pairs([(1, 3)]), 4, None, None)
    assert project_batch([a, b, c, d]) == [
        [Span(1, 3, PER)],
        [Span(0, 1, LOC)],
        [],
        [Span(3, 4, ORG)],
    ]
    assert project_batch([]) == []
    assert project_batch([a, b], "ngram") == [[Span(1, 3, PER)], [Span(0, 1, LOC)]]
    arrays = (b[0], b[1], 2, np.array(["x", "!"]), np.array([[0, 1], [0, 2]]))  # arrays anywhere
    assert project_batch([a, arrays], "ngram") == [[Span(1, 3, PER)], [Span(0, 1, LOC)]]
    with pytest.raises(ValueError, match="spans, alignment, target_length"):
        project_batch([([Span(0, 1, PER)], [])])


def test_batch_errors_name_the_sentence():
    good = ([Span(0, 1, PER)], [(0, 0)], 2)
    with pytest.raises(
        ValueError, match=r"sentence 1 of the batch: alignment link 0-2 points past"
    ):
        project_batch([good, ([Span(0, 1, PER)], [(0, 0), (0, 2)], 2), good])
    with pytest.raises(ValueError, match="sentence 2 of the batch: source span .* is empty"):
        project_batch([good, good, ([Span(1, 1, PER)], [], 2)])
    with pytest.raises(ValueError, match="sentence 0 of the batch: 1 target tokens"):
        project_batch([(*good, ["a"]), good], "ngram")
    with pytest.raises(ValueError, match="sentence 1 of the batch: candidate"):
        match_entities_batch([good, (*good, None, [(0, 3)])])
    with pytest.raises(ConfigError, match="ngram"):
        project_batch([good, (*good, None, [(0, 1)])])


def test_batch_neighbours_do_not_interact():
    """An entity at the end of one target and one at the start of the next stay apart."""
    first = ([Span(0, 1, PER)], [(0, 2)], 3)  # the last target word
    second = ([Span(0, 1, PER)], [(0, 0)], 3)  # the first target word
    empty = ([Span(0, 1, LOC)], [], 0)
    for method in ("heuristic", "ngram"):
        out = project_batch(
            [first, empty, second, first], method, {"exact": True} if method == "ngram" else None
        )
        assert out == [[Span(2, 3, PER)], [], [Span(0, 1, PER)], [Span(2, 3, PER)]]


@st.composite
def batch_items(draw):
    """A few sentence pairs; each may give target tokens and candidates."""
    items = []
    for spans, links, n_tgt, tokens in draw(st.lists(instances(), max_size=6)):
        tok = tokens if draw(st.booleans()) else None
        items.append(ProjectionItem(spans, links, n_tgt, tok, draw(candidate_lists(n_tgt))))
    return items


@FAST
@given(batch_items(), heuristic_options)
def test_heuristic_batch_equals_one_sentence_at_a_time_and_the_reference(items, options):
    items = [item._replace(candidates=None) for item in items]
    out = project_batch(items, "heuristic", options)
    assert out == [project(*item[:3], "heuristic", options, item.target_tokens) for item in items]
    expected = [
        ref.heuristic(
            item.spans,
            item.alignment,
            item.target_length,
            options.merge_distance,
            options.length_ratio,
            options.keep,
            options.collisions,
        )
        for item in items
    ]
    assert out == expected


@FAST
@given(batch_items(), st.sampled_from([None, 1, 2, 4]), st.booleans())
def test_ngram_batch_equals_one_sentence_at_a_time_and_the_reference(items, max_len, exact):
    options = NgramOptions(max_len=max_len, exact=exact)
    batched = match_entities_batch(items, options)
    assert batched == [match_entities(*item[:3], options, *item[3:5]) for item in items]
    assert project_batch(items, "ngram", options) == [[m.span for m in ms] for ms in batched]
    if not exact:
        for item, matches in zip(items, batched, strict=True):
            expected = ref.ngram_greedy(
                item.spans, item.alignment, item.target_length, max_len, ("!", "?"), *item[3:5]
            )
            assert [m.span for m in matches] == expected


def test_batch_of_realistic_sentences_equals_the_reference():
    rng = random.Random(11)
    items = [
        _realistic(rng.randint(1, 4), rng.randint(16, 30), seed=k, noise=0.1) for k in range(40)
    ]
    assert project_batch([item[:3] for item in items]) == [
        ref.heuristic(*item[:3]) for item in items
    ]
    assert project_batch(items, "ngram") == [
        ref.ngram_greedy(*item[:3], tokens=item[3]) for item in items
    ]


# --------------------------------------------------------------------------- realistic / real data


def _realistic(n_entities, n_tgt, seed, noise=0.05):
    """Mostly monotone alignment with dropped, doubled and stray links (as in the benchmark)."""
    rng = random.Random(seed)
    n_src = n_tgt
    starts = sorted(rng.sample(range(0, n_src - 4, 4), n_entities))
    spans = [Span(s, s + rng.randint(1, 3), rng.choice(LABELS)) for s in starts]
    links = []
    for i in range(n_src):
        if rng.random() < 0.1:
            continue
        j = min(n_tgt - 1, max(0, i + rng.randint(-1, 1)))
        links.append((i, j))
        if rng.random() < 0.1 and j + 1 < n_tgt:
            links.append((i, j + 1))
        if rng.random() < noise:
            links.append((i, rng.randrange(n_tgt)))
    return spans, links, n_tgt, ["w"] * n_tgt


def _pairs(path: Path, limit: int):
    with path.open(encoding="utf-8") as handle:
        for text in itertools.islice(handle, limit):
            yield json.loads(text)


@pytest.mark.parametrize("pair", ["enfr", "roen"])
def test_real_alignments_match_reference(shared_data, pair):
    """Gold alignments of real sentence pairs, with random source chunks as entities."""
    rng = random.Random(0)
    n_checked = 0
    for record in _pairs(shared_data / "word_alignment" / pair / f"{pair}.jsonl", 80):
        src, tgt = record["src_tokens"], record["tgt_tokens"]
        links = [tuple(p) for p in record["sure"] + record["possible"]]
        if not links or max(j for _, j in links) >= len(tgt):
            continue
        spans, i = [], 0
        while i < len(src):
            size = rng.randint(1, 3)
            if rng.random() < 0.4:
                spans.append(Span(i, min(len(src), i + size), rng.choice(LABELS)))
            i += size + rng.randint(0, 3)
        assert heur(spans, links, len(tgt)) == ref.heuristic(spans, links, len(tgt))
        greedy = match_entities(spans, links, len(tgt), None, tgt)
        assert [m.span for m in greedy] == ref.ngram_greedy(spans, links, len(tgt), tokens=tgt)
        exact = match_entities(spans, links, len(tgt), {"exact": True}, tgt)
        assert total(exact) >= total(greedy) - 1e-9
        assert_valid([m.span for m in exact], len(tgt), set(LABELS))
        n_checked += 1
    assert n_checked > 50


# ----------------------------------------------------------------- results, engines, variants


@FAST
@given(batch_items(), heuristic_options, st.sampled_from([None, 2]), st.booleans())
def test_project_results_carry_each_methods_result(items, heuristic_opts, max_len, exact):
    """Spans as project_batch gives them; matches (ngram's) as match_entities_batch gives them."""
    plain = [item._replace(candidates=None) for item in items]
    results = project_results(plain, "heuristic", heuristic_opts)
    assert [r.spans for r in results] == project_batch(plain, "heuristic", heuristic_opts)
    options = NgramOptions(max_len=max_len, exact=exact)
    assert [(r.spans, r.matches) for r in project_results(items, "ngram", options)] == [
        ([m.span for m in matches], matches) for matches in match_entities_batch(items, options)
    ]


def test_project_results_skip_sentences_without_spans_or_words():
    """Such a sentence projects nothing and its alignment is not read (a link past its end is
    no error); error numbers still count every sentence of the batch."""
    good = ([Span(0, 1, PER)], [(0, 1)], 2, ["a", "b"])
    no_spans = ([], [(0, 9)], 3, ["a", "b", "c"])
    no_words = (iter([Span(0, 1, PER)]), [(0, 9)], 0, [])
    out = project_results([no_spans, good, no_words], "ngram")
    assert out == [Projected([], []), project_results([good], "ngram")[0], Projected([], [])]
    assert out[1].spans == [Span(1, 2, PER)]
    heuristic = project_results([no_spans, good, no_words])
    assert heuristic == [
        Projected([]),
        Projected([Span(1, 2, PER)], None, [1.0], [0]),
        Projected([]),
    ]
    assert project_results([no_spans, no_words], "ngram") == [Projected([], [])] * 2
    assert project_results([]) == []
    bad = ([Span(0, 1, PER)], [(0, 5)], 2)
    with pytest.raises(ValueError, match="sentence 2 of the batch: alignment link 0-5"):
        project_results([no_spans, good, bad])
    with pytest.raises(ValueError, match="spans, alignment, target_length"):
        project_results([([Span(0, 1, PER)], [])])


def test_methods_say_whether_they_pair_entities():
    assert method_info("ngram").pairs_entities
    assert not method_info("heuristic").pairs_entities
    assert method_info("ngram").needs == method_info("heuristic").needs == ()
    from xner.runtime.projection import ngram as ngram_module
    from xner.runtime.projection import result

    assert ngram_module.Match is result.Match is Match  # the old import keeps working


@dataclass(frozen=True)
class _MarkOptions:
    label: str = option("MARK", help="label of every projected span.")
    hidden: int = option(3, help="not on the command line.", cli=False)


@pytest.fixture
def translator_method():
    """A method that asks its translator which target words to label (a stub in the tests)."""

    @register_method("ask-translator", _MarkOptions, needs=("translator",))
    def ask(batch, options, engines):
        words = engines.translator.chosen(batch.size)
        return [Projected([Span(w, w + 1, options.label)]) for w in words]

    yield "ask-translator"
    unregister_method("ask-translator")


def test_a_method_that_needs_engines_gets_them(translator_method):
    class Translator:
        calls = 0

        def chosen(self, n):
            Translator.calls += 1
            return [0] * n

    engines = SimpleNamespace(translator=Translator(), tagger=None, aligner=None)
    items = [([Span(0, 1, PER)], [(0, 0)], 2), ([], [], 2), ([Span(0, 1, PER)], [(0, 1)], 3)]
    out = project_results(items, translator_method, {"label": "X"}, engines=engines)
    assert out == [Projected([Span(0, 1, "X")]), Projected([]), Projected([Span(0, 1, "X")])]
    assert Translator.calls == 1  # one call for the batch
    assert method_info(translator_method).needs == ("translator",)
    project_results([([], [], 2)], translator_method, engines=engines)
    assert Translator.calls == 1  # nothing to project: the engines are not used
    for call in (
        lambda: project_results(items, translator_method),
        lambda: project_results([], translator_method),
        lambda: project_batch(items, translator_method),
        lambda: project(*items[0], method=translator_method),
    ):
        with pytest.raises(ConfigError, match=r"'ask-translator' needs engines \(translator\)"):
            call()


def test_registration_mistakes_are_refused():
    def fn(batch, options):
        return [Projected([]) for _ in range(batch.size)]

    with pytest.raises(ValueError, match="unknown engine 'translater'"):
        register_method("x", _MarkOptions, needs=("translater",))
    with pytest.raises(ValueError, match="the string"):
        register_method("x", _MarkOptions, needs="translator")
    with pytest.raises(ValueError, match="must be a dataclass"):
        register_method("x", dict)

    @dataclass(frozen=True)
    class NoDefault:
        size: int

    with pytest.raises(ValueError, match="'size' of projection method 'x' needs a default"):
        register_method("x", NoDefault)
    with pytest.raises(ValueError, match="already registered"):
        register_method("ngram-exact", _MarkOptions)(fn)
    assert "x" not in available_methods()


def test_a_method_giving_the_wrong_results_is_a_programming_error():
    register_method("short", _MarkOptions)(lambda batch, options: [])
    register_method("no-matches", _MarkOptions, pairs_entities=True)(
        lambda batch, options: [Projected([]) for _ in range(batch.size)]
    )
    item = ([Span(0, 1, PER)], [(0, 0)], 1)
    try:
        with pytest.raises(TypeError, match="'short' gave 0 results for 1 sentences"):
            project_batch([item], "short")
        with pytest.raises(TypeError, match="'no-matches' pairs entities but gave no matches"):
            project_results([item], "no-matches")
        assert project_results([([], [], 1)], "no-matches") == [Projected([], [])]
    finally:
        unregister_method("short")
        unregister_method("no-matches")
    assert available_methods() == SHIPPED_METHODS


SHIPPED_VARIANTS = ("ngram-exact", "ngram-ner", "ngram-nerspan", "ngram-nerspan-sub", "ngram-nmt")


def test_variants():
    assert available_variants() == SHIPPED_VARIANTS
    assert resolve_method("ngram-exact") == ("ngram", NgramOptions(exact=True))
    assert resolve_method("ngram-exact", {"max_len": 3}) == (
        "ngram",
        NgramOptions(max_len=3, exact=True),
    )
    assert resolve_method("ngram-exact", NgramOptions(exact=False)) == (
        "ngram",
        NgramOptions(exact=True),  # the variant's options win
    )
    assert resolve_method("heuristic", {"keep": "largest"}) == (
        "heuristic",
        HeuristicOptions(keep="largest"),
    )
    assert resolve_method("ngram") == ("ngram", NgramOptions())
    with pytest.raises(ConfigError, match="choose from .*heuristic, .*ngram, ngram-exact"):
        resolve_method("ngram-exakt")
    with pytest.raises(ConfigError, match="option of projection method 'ngram' 'exakt'"):
        resolve_method("ngram-exact", {"exakt": True})
    with pytest.raises(ValueError, match="already registered"):
        register_variant("ngram-exact", "ngram", {"exact": True})
    with pytest.raises(ValueError, match="unknown projection method 'ngramm'"):
        register_variant("v", "ngramm", {})
    with pytest.raises(ValueError, match="'ngram' has no option 'keep'"):
        register_variant("v", "ngram", {"keep": "all"})
    assert available_variants() == SHIPPED_VARIANTS


def test_unregistering_a_method_removes_its_variants():
    register_method("temp", _MarkOptions)(lambda batch, options: [])
    register_variant("temp-x", "temp", {"label": "X"})
    assert resolve_method("temp-x") == ("temp", _MarkOptions(label="X"))
    unregister_method("temp")
    assert "temp" not in available_methods() and available_variants() == SHIPPED_VARIANTS
    unregister_method("temp")  # unknown: nothing to do


def test_option_fields_describe_the_command_line():
    fields = {f.name: f for f in option_fields(NgramOptions)}
    assert list(fields) == [  # max_states: cli=False
        "max_len",
        "stop_words",
        "exact",
        "scores",
        "candidates",
        "ner_any_class",
        "nmt_candidates",
    ]
    assert fields["max_len"].annotation == int | None and fields["max_len"].default is None
    assert fields["stop_words"].annotation == tuple[str, ...]
    assert fields["exact"].flag == "--exact" and fields["exact"].help.startswith("optimal")
    names = [f.flag for f in option_fields(HeuristicOptions)]
    assert names == ["--merge-distance", "--length-ratio", "--keep", "--collisions"]
    assert [f.name for f in option_fields(_MarkOptions)] == ["label"]

    @dataclass(frozen=True)
    class Plain:
        size: int = 2
        named: str = option("a", help="h", flag="--other")

    plain = option_fields(Plain)
    assert [(f.name, f.flag, f.help, f.default) for f in plain] == [
        ("size", "--size", "", 2),
        ("named", "--other", "h", "a"),
    ]
