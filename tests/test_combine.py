"""The combination of several voters' spans (runtime/projection/combine.py), checked by hand."""

from __future__ import annotations

import re

import pytest

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError
from xner.runtime.projection.combine import (
    COMBINE_RULES,
    Combined,
    CombineOptions,
    combine_spans,
    parse_weights,
)

PER = Span(0, 2, "PER")
PER_SHORT = Span(0, 1, "PER")
ORG = Span(0, 2, "ORG")
LOC = Span(4, 5, "LOC")
LOC_WIDE = Span(3, 5, "LOC")


def spans(result: list[Combined]) -> list[tuple[Span, tuple[str, ...]]]:
    return [(c.span, c.voters) for c in result]


def test_majority_keeps_what_most_voters_give() -> None:
    votes = {"a": [(PER, 1.0), (LOC, 1.0)], "b": [(PER, 0.5)], "c": [(PER, 0.8), (LOC, 1.0)]}
    result = combine_spans(votes, CombineOptions())
    assert spans(result) == [(PER, ("a", "b", "c")), (LOC, ("a", "c"))]
    assert [c.confidence for c in result] == [1.0, pytest.approx(2 / 3)]


def test_strict_majority_drops_a_half() -> None:
    votes = {"a": [(PER, 1.0)], "b": [(PER, 1.0)], "c": [], "d": []}
    assert combine_spans(votes, CombineOptions()) == []  # 2 of 4 is not more than half
    assert spans(combine_spans(votes, CombineOptions(min_votes=2))) == [(PER, ("a", "b"))]


def test_min_votes_is_a_floor_in_votes() -> None:
    votes = {"a": [(PER, 1.0), (LOC, 1.0)], "b": [(LOC, 1.0)], "c": [(LOC, 1.0)]}
    assert spans(combine_spans(votes, CombineOptions(min_votes=1))) == [
        (PER, ("a",)),
        (LOC, ("a", "b", "c")),
    ]
    assert spans(combine_spans(votes, CombineOptions(min_votes=3))) == [(LOC, ("a", "b", "c"))]
    assert combine_spans(votes, CombineOptions(min_votes=4)) == []


def test_different_labels_or_boundaries_do_not_agree() -> None:
    votes = {"a": [(PER, 1.0)], "b": [(ORG, 1.0)], "c": [(PER_SHORT, 1.0)]}
    assert combine_spans(votes, CombineOptions()) == []


def test_a_failed_voter_does_not_count() -> None:
    votes = {"a": [(PER, 1.0)], "b": None, "c": [(PER, 1.0), (LOC, 1.0)]}
    result = combine_spans(votes, CombineOptions())
    # two answering voters: a strict majority is 2
    assert spans(result) == [(PER, ("a", "c"))]
    assert result[0].confidence == 1.0


def test_no_answering_voter_gives_nothing() -> None:
    assert combine_spans({"a": None, "b": None}, CombineOptions(rule="union")) == []
    assert combine_spans({}, CombineOptions()) == []


def test_a_voter_that_answers_with_no_span_still_counts() -> None:
    votes = {"a": [(PER, 1.0)], "b": []}
    assert combine_spans(votes, CombineOptions()) == []  # 1 of 2
    assert spans(combine_spans({"a": [(PER, 1.0)], "b": None}, CombineOptions())) == [(PER, ("a",))]


def test_a_voter_giving_a_span_twice_votes_once() -> None:
    votes = {"a": [(PER, 0.2), (PER, 0.9)], "b": [], "c": []}
    assert combine_spans(votes, CombineOptions()) == []
    result = combine_spans(votes, CombineOptions(rule="union"))
    assert spans(result) == [(PER, ("a",))]
    assert result[0].confidence == pytest.approx(1 / 3)


def test_weighted_keeps_more_than_half_of_the_weight() -> None:
    votes = {"a": [(PER, 1.0)], "b": [(LOC, 1.0)], "c": [(LOC, 1.0)]}
    heavy_a = CombineOptions(rule="weighted", weights={"a": 3.0})
    result = combine_spans(votes, heavy_a)  # a: 3 of 5, LOC: 2 of 5
    assert spans(result) == [(PER, ("a",))]
    assert result[0].confidence == pytest.approx(0.6)
    even = CombineOptions(rule="weighted", weights={"a": 2.0})  # 2 of 4 each: neither > half
    assert combine_spans(votes, even) == []
    assert spans(combine_spans(votes, CombineOptions(rule="weighted"))) == [(LOC, ("b", "c"))]


def test_weighted_with_min_votes_needs_both() -> None:
    votes = {"a": [(PER, 1.0)], "b": [], "c": []}
    weights = {"a": 10.0}
    assert spans(combine_spans(votes, CombineOptions(rule="weighted", weights=weights))) == [
        (PER, ("a",))
    ]
    both = CombineOptions(rule="weighted", min_votes=2, weights=weights)
    assert combine_spans(votes, both) == []


def test_weights_of_failed_voters_leave_the_total() -> None:
    votes = {"a": [(PER, 1.0)], "b": None, "c": []}
    options = CombineOptions(rule="weighted", weights={"a": 1.5, "b": 100.0})
    result = combine_spans(votes, options)  # 1.5 of 2.5
    assert spans(result) == [(PER, ("a",))]
    assert result[0].confidence == pytest.approx(0.6)


def test_union_keeps_every_span_no_other_overlaps() -> None:
    votes = {"a": [(PER, 1.0)], "b": [(LOC, 1.0)], "c": [(Span(6, 7, "ORG"), 0.1)]}
    result = combine_spans(votes, CombineOptions(rule="union"))
    assert spans(result) == [(PER, ("a",)), (LOC, ("b",)), (Span(6, 7, "ORG"), ("c",))]
    assert [c.confidence for c in result] == [pytest.approx(1 / 3)] * 3


def test_overlaps_are_won_by_votes() -> None:
    votes = {"a": [(PER, 1.0)], "b": [(ORG, 1.0)], "c": [(ORG, 0.1)]}
    assert spans(combine_spans(votes, CombineOptions(rule="union"))) == [(ORG, ("b", "c"))]


def test_overlap_ties_are_won_by_weight() -> None:
    votes = {"a": [(PER, 1.0)], "b": [(ORG, 0.1)]}
    options = CombineOptions(rule="union", weights={"b": 2.0})
    assert spans(combine_spans(votes, options)) == [(ORG, ("b",))]


def test_overlap_ties_are_won_by_confidence_then_voter_order() -> None:
    votes = {"a": [(PER, 0.4)], "b": [(PER_SHORT, 0.9)]}
    assert spans(combine_spans(votes, CombineOptions(rule="union"))) == [(PER_SHORT, ("b",))]
    tied = {"a": [(PER, 0.5)], "b": [(PER_SHORT, 0.5)]}
    assert spans(combine_spans(tied, CombineOptions(rule="union"))) == [(PER, ("a",))]
    swapped = {"b": [(PER_SHORT, 0.5)], "a": [(PER, 0.5)]}
    assert spans(combine_spans(swapped, CombineOptions(rule="union"))) == [(PER_SHORT, ("b",))]


def test_overlaps_resolved_greedily_keep_disjoint_losers() -> None:
    # PER loses against ORG (2 votes to 1); LOC_WIDE overlaps only LOC, which wins by votes;
    # the span at 6 overlaps nothing and stays
    votes = {
        "a": [(PER, 1.0), (LOC_WIDE, 1.0), (Span(6, 8, "MISC"), 1.0)],
        "b": [(ORG, 1.0), (LOC, 1.0)],
        "c": [(ORG, 1.0), (LOC, 1.0)],
    }
    result = combine_spans(votes, CombineOptions(rule="union"))
    assert spans(result) == [
        (ORG, ("b", "c")),
        (LOC, ("b", "c")),
        (Span(6, 8, "MISC"), ("a",)),
    ]


def test_result_is_sorted_and_never_overlaps() -> None:
    votes = {
        "a": [(Span(5, 6, "LOC"), 1.0), (Span(0, 3, "PER"), 1.0)],
        "b": [(Span(2, 4, "ORG"), 1.0), (Span(5, 6, "LOC"), 1.0)],
    }
    result = combine_spans(votes, CombineOptions(rule="union"))
    starts = [c.span.start for c in result]
    assert starts == sorted(starts)
    for left, right in zip(result, result[1:], strict=False):
        assert left.span.end <= right.span.start
    assert spans(result) == [(Span(0, 3, "PER"), ("a",)), (Span(5, 6, "LOC"), ("a", "b"))]


def test_one_voter_gives_its_own_spans() -> None:
    votes = {"a": [(PER, 0.3), (LOC, 0.7)]}
    for rule in COMBINE_RULES:
        result = combine_spans(votes, CombineOptions(rule=rule))
        assert spans(result) == [(PER, ("a",)), (LOC, ("a",))]
        assert [c.confidence for c in result] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"rule": "majority"},
            "unknown combine rule 'majority'; choose from union, vote, weighted",
        ),
        ({"min_votes": 0}, "min_votes must be an integer >= 1, got 0"),
        ({"min_votes": True}, "min_votes must be an integer >= 1, got True"),
        ({"min_votes": 1.5}, "min_votes must be an integer >= 1, got 1.5"),
        ({"rule": "union", "min_votes": 2}, "min_votes 2 does not apply to the union rule"),
        ({"weights": {"fra_Latn": 0}}, "weight of 'fra_Latn' must be a number > 0, got 0"),
        ({"weights": {"fra_Latn": -1.0}}, "weight of 'fra_Latn' must be a number > 0"),
        ({"weights": {"fra_Latn": float("inf")}}, "weight of 'fra_Latn' must be a number > 0"),
        ({"weights": {"fra_Latn": "2"}}, "weight of 'fra_Latn' must be a number > 0"),
        ({"weights": {"": 1.0}}, "weights: a voter must be a non-empty name"),
        ({"weights": [("a", 1.0)]}, "weights must map voters to numbers"),
    ],
)
def test_bad_options_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        CombineOptions(**kwargs)  # type: ignore[arg-type]


def test_weights_naming_an_unknown_voter_list_the_voters() -> None:
    options = CombineOptions(weights={"deu_Latn": 2.0})
    votes = {"eng_Latn": [(PER, 1.0)], "fra_Latn": None}
    with pytest.raises(ConfigError, match="unknown voter in weights 'deu_Latn'; choose from "):
        combine_spans(votes, options)


def test_union_accepts_min_votes_one() -> None:
    assert CombineOptions(rule="union", min_votes=1).min_votes == 1


def test_canonical() -> None:
    assert CombineOptions().canonical() == {"rule": "vote", "min_votes": None, "weights": {}}
    options = CombineOptions("weighted", 2, {"por_Latn": 2, "fra_Latn": 0.5})
    assert options.canonical() == {
        "rule": "weighted",
        "min_votes": 2,
        "weights": {"fra_Latn": 0.5, "por_Latn": 2.0},
    }
    assert list(options.canonical()["weights"]) == ["fra_Latn", "por_Latn"]


def test_parse_weights() -> None:
    assert parse_weights("fra_Latn=0.5, por_Latn = 2") == {"fra_Latn": 0.5, "por_Latn": 2.0}
    assert parse_weights(None) == {}
    assert parse_weights("") == {}


@pytest.mark.parametrize("entry", ["fra_Latn", "fra_Latn=", "=2", "fra_Latn=x", "fra_Latn=0"])
def test_parse_weights_names_a_bad_entry(entry: str) -> None:
    with pytest.raises(ConfigError, match=f"^--weights: bad entry '{entry}'; write VOTER=WEIGHT"):
        parse_weights(f"por_Latn=1,{entry}")


def test_parse_weights_refuses_a_repeat() -> None:
    with pytest.raises(ConfigError, match="'fra_Latn' is given twice"):
        parse_weights("fra_Latn=1,fra_Latn=2")
