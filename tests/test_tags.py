"""Tag schemes and spans: hand-made cases per scheme and property tests against seqeval."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.tags import (
    SCHEMES,
    convert_tags,
    detect_scheme,
    drop_labels,
    ignore_labels,
    map_labels,
    normalize_scheme,
    spans_from_tags,
    tags_from_spans,
    validate_tags,
)

TYPES = ("PER", "LOC", "ORG", "B-I")  # "B-I": a type that contains a hyphen


def seqeval_spans(tags: list[str]) -> list[Span]:
    """seqeval's reading of one sentence, as xner spans (seqeval's ends are inclusive)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns about tags such as "X-PER"
        return [Span(start, end + 1, label) for label, start, end in get_entities(list(tags))]


# --- hand-made cases, one scheme at a time ----------------------------------------------------


def test_iob2_round_trip() -> None:
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
    spans = [Span(0, 2, "PER"), Span(3, 4, "LOC"), Span(4, 6, "LOC"), Span(7, 8, "ORG")]
    assert spans_from_tags(tags) == spans
    assert spans_from_tags(tags, "IOB2") == spans
    assert tags_from_spans(spans, len(tags)) == tags
    assert tags_from_spans(reversed(spans), len(tags), "iob2") == tags  # any order, any case


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["O", "I-PER", "I-PER"], [Span(1, 3, "PER")]),  # orphan I- after O opens an entity
        (["I-PER"], [Span(0, 1, "PER")]),  # ... also at the start of a sentence
        (["B-PER", "I-LOC", "I-LOC"], [Span(0, 1, "PER"), Span(1, 3, "LOC")]),  # after another type
        (["B-PER", "I-PER", "I-LOC", "O"], [Span(0, 2, "PER"), Span(2, 3, "LOC")]),
        (["B-PER", "E-PER", "I-PER"], [Span(0, 2, "PER"), Span(2, 3, "PER")]),  # E- ends
        (["S-PER", "I-PER"], [Span(0, 1, "PER"), Span(1, 2, "PER")]),  # S- ends
        (["B", "I", "O", "I"], [Span(0, 2, "_"), Span(3, 4, "_")]),  # bare letters: type "_"
        (["B-FOO-BAR", "I-FOO-BAR"], [Span(0, 2, "FOO-BAR")]),  # hyphen inside the type
        (["B-PER", "I-PER-X"], [Span(0, 1, "PER"), Span(1, 2, "PER-X")]),
        ([], []),
        (["O", "O"], []),
    ],
)
def test_orphans_and_odd_tags_like_seqeval(tags: list[str], expected: list[Span]) -> None:
    assert spans_from_tags(tags) == expected
    assert seqeval_spans(tags) == expected


def test_iob1_conll03_examples() -> None:
    # eng.train as distributed (IOB1): "EU rejects German call to boycott British lamb ."
    tags = ["I-ORG", "O", "I-MISC", "O", "O", "O", "I-MISC", "O", "O"]
    spans = [Span(0, 1, "ORG"), Span(2, 3, "MISC"), Span(6, 7, "MISC")]
    assert spans_from_tags(tags, "IOB1") == spans
    assert tags_from_spans(spans, len(tags), "IOB1") == tags
    assert convert_tags(tags, "IOB1", "IOB2") == [
        "B-ORG",
        "O",
        "B-MISC",
        "O",
        "O",
        "O",
        "B-MISC",
        "O",
        "O",
    ]
    # B- only between two adjacent entities of one type: "... the Bonn - Paris axis" style
    tags = ["I-LOC", "I-LOC", "B-LOC", "I-PER", "O", "I-PER", "B-PER"]
    spans = [
        Span(0, 2, "LOC"),
        Span(2, 3, "LOC"),
        Span(3, 4, "PER"),
        Span(5, 6, "PER"),
        Span(6, 7, "PER"),
    ]
    assert spans_from_tags(tags, "IOB1") == spans
    assert tags_from_spans(spans, len(tags), "IOB1") == tags
    validate_tags(tags, "IOB1", strict=True)
    assert convert_tags(tags, "IOB1", "IOB2") == [
        "B-LOC",
        "I-LOC",
        "B-LOC",
        "B-PER",
        "O",
        "B-PER",
        "B-PER",
    ]


def test_bioes_singletons_and_runs() -> None:
    tags = ["S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "O", "B-ORG", "E-ORG"]
    spans = [Span(0, 1, "PER"), Span(1, 4, "LOC"), Span(4, 5, "LOC"), Span(6, 8, "ORG")]
    assert spans_from_tags(tags, "BIOES") == spans
    assert spans_from_tags(tags, "IOBES") == spans  # alias
    assert tags_from_spans(spans, len(tags), "BIOES") == tags
    validate_tags(tags, "BIOES", strict=True)
    assert convert_tags(tags, "BIOES", "IOB2") == [
        "B-PER", "B-LOC", "I-LOC", "I-LOC", "B-LOC", "O", "B-ORG", "I-ORG",
    ]  # fmt: skip


def test_bilou_is_bioes_with_l_and_u() -> None:
    tags = ["U-PER", "B-LOC", "I-LOC", "L-LOC", "O", "U-LOC"]
    spans = [Span(0, 1, "PER"), Span(1, 4, "LOC"), Span(5, 6, "LOC")]
    assert spans_from_tags(tags, "BILOU") == spans
    assert tags_from_spans(spans, len(tags), "BILOU") == tags
    assert convert_tags(tags, "BILOU", "BIOES") == [
        "S-PER",
        "B-LOC",
        "I-LOC",
        "E-LOC",
        "O",
        "S-LOC",
    ]
    validate_tags(tags, "BILOU", strict=True)


def test_io_merges_adjacent_entities_of_one_type() -> None:
    tags = ["I-PER", "I-PER", "O", "I-LOC", "I-ORG"]
    spans = [Span(0, 2, "PER"), Span(3, 4, "LOC"), Span(4, 5, "ORG")]
    assert spans_from_tags(tags, "IO") == spans
    assert tags_from_spans(spans, len(tags), "IO") == tags
    touching = [Span(0, 1, "PER"), Span(1, 2, "PER")]
    assert tags_from_spans(touching, 2, "IO") == ["I-PER", "I-PER"]
    assert spans_from_tags(["I-PER", "I-PER"], "IO") == [Span(0, 2, "PER")]


@pytest.mark.parametrize(
    ("spans", "length"),
    [
        ([Span(0, 2, "PER"), Span(1, 3, "LOC")], 4),  # overlap
        ([Span(0, 2, "PER"), Span(0, 2, "LOC")], 4),  # same place twice
        ([Span(2, 5, "PER")], 4),  # past the end
        ([Span(-1, 1, "PER")], 4),  # before the start
        ([Span(1, 1, "PER")], 4),  # empty
        ([Span(0, 1, "")], 4),  # no label
        ([Span(0, 1, "NEW YORK")], 4),  # whitespace would break CoNLL files
    ],
)
def test_tags_from_spans_refuses_bad_spans(spans: list[Span], length: int) -> None:
    for scheme in SCHEMES:
        with pytest.raises(ValueError):
            tags_from_spans(spans, length, scheme)


def test_unknown_scheme_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="IOB1, IOB2") as info:
        spans_from_tags(["O"], "IOB3")
    assert "Did you mean" in str(info.value)
    with pytest.raises(ConfigError, match="BIOES"):
        tags_from_spans([], 1, "BOGUS")
    assert normalize_scheme(" iobes ") == "BIOES"


# --- scheme detection ----------------------------------------------------------------------


def test_detect_scheme_from_label_lists() -> None:
    # FacebookAI/xlm-roberta-large-finetuned-conll03-english: IOB1, there is no B-PER label
    xlmr = ["B-LOC", "B-MISC", "B-ORG", "I-LOC", "I-MISC", "I-ORG", "I-PER", "O"]
    assert detect_scheme(xlmr) == "IOB1"
    full = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert detect_scheme(full) == "IOB2"  # ambiguous with IOB1; the disk convention wins
    assert detect_scheme(["O", "B-DATE"]) == "IOB2"
    assert detect_scheme(["O", "B-PER", "I-PER", "E-PER", "S-PER"]) == "BIOES"
    assert detect_scheme(["O", "U-PER", "B-PER", "I-PER", "L-PER"]) == "BILOU"
    assert detect_scheme(["O", "I-PER", "I-LOC"]) == "IO"
    assert detect_scheme(["O"]) == "IOB2"
    assert detect_scheme(["O", "B-FOO-BAR", "I-FOO-BAR"]) == "IOB2"


@pytest.mark.parametrize("labels", [["O", "PER"], ["O", "X-PER"], ["B-"], ["O", "S-PER", "U-PER"]])
def test_detect_scheme_refuses_bad_labels(labels: list[str]) -> None:
    with pytest.raises(ConfigError):
        detect_scheme(labels)


# --- label mapping ------------------------------------------------------------------------


def test_ignore_and_map_labels_keep_valid_iob2() -> None:
    tags = ["B-PER", "I-PER", "B-MISC", "I-MISC", "O", "B-DATE", "I-LOC", "I-LOC"]
    assert ignore_labels(tags, {"MISC", "DATE"}) == [
        "B-PER",
        "I-PER",
        "O",
        "O",
        "O",
        "O",
        "B-LOC",
        "I-LOC",
    ]
    # an orphan I- that survives is rewritten as B-, so the result is valid IOB2
    assert ignore_labels(["B-MISC", "I-PER", "I-PER"], ["MISC"]) == ["O", "B-PER", "I-PER"]
    validate_tags(ignore_labels(tags, {"MISC"}), "IOB2", strict=True)
    mapped = map_labels(tags, {"MISC": None, "DATE": "TIME", "LOC": "GPE"})
    assert mapped == ["B-PER", "I-PER", "O", "O", "O", "B-TIME", "B-GPE", "I-GPE"]
    # two entities that become the same type stay two entities
    assert map_labels(["B-LOC", "B-GPE"], {"GPE": "LOC"}) == ["B-LOC", "B-LOC"]
    assert map_labels(["B-LOC", "I-LOC"], {"LOC": "O"}) == ["O", "O"]
    assert map_labels(["S-LOC", "B-GPE", "E-GPE"], {"GPE": "LOC"}, "BIOES") == [
        "S-LOC",
        "B-LOC",
        "E-LOC",
    ]


def test_drop_labels() -> None:
    spans = [Span(0, 1, "PER"), Span(1, 2, "MISC"), Span(3, 4, "DATE"), Span(5, 7, "LOC")]
    assert drop_labels(spans, {"MISC", "DATE"}) == [Span(0, 1, "PER"), Span(5, 7, "LOC")]
    assert drop_labels(spans, ()) == spans


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "scheme", "needle"),
    [
        (["O", "X-PER"], "IOB2", "word 2: tag 'X-PER' is not O or B-, I-"),
        (["B-PER", ""], "IOB2", "word 2: empty tag"),
        (["B"], "IOB2", "'B' has no entity type"),
        (["B-"], "IOB2", "'B-'"),
        (["BPER"], "IOB2", "'BPER'"),
        (["b-per"], "IOB2", "'b-per'"),
        (["O-PER"], "IOB2", "'O-PER'"),
        (["E-PER"], "IOB2", "'E-PER'"),  # E- is not an IOB2 prefix
        (["B-PER"], "IO", "'B-PER' is not O or I-"),
        (["L-PER"], "BIOES", "'L-PER'"),
        (["E-PER"], "BILOU", "'E-PER'"),
        (["B-NEW YORK"], "IOB2", "whitespace"),
        (["B-PER", None], "IOB2", "not a string"),
    ],
)
def test_validate_tags_names_the_problem(tags: list[str], scheme: str, needle: str) -> None:
    with pytest.raises(InputError) as info:
        validate_tags(tags, scheme, path="gold.conll", line=7)
    message = str(info.value)
    assert message.startswith("gold.conll:7: ")
    assert needle in message


def test_validate_tags_lines_and_strictness() -> None:
    with pytest.raises(InputError, match=r"^x\.conll:12: word 3: "):
        validate_tags(["O", "O", "Y"], path="x.conll", line=10, one_word_per_line=True)
    with pytest.raises(InputError, match=r"^<stdin>: word 1"):
        validate_tags(["Y"])
    validate_tags(["O", "I-PER"])  # orphan I- is fine unless strict
    validate_tags(["B-PER", "I-PER", "O", "B-PER"], strict=True)
    for tags, scheme, needle in [
        (["O", "I-PER"], "IOB2", "I-PER does not continue"),
        (["B-PER", "I-LOC"], "IOB2", "I-LOC does not continue"),
        (["O", "B-PER"], "IOB1", "B-PER does not follow"),
        (["B-PER", "O"], "BIOES", "B-PER is not followed"),
        (["B-PER"], "BIOES", "B-PER is not followed"),
        (["B-PER", "I-PER", "S-PER"], "BIOES", "I-PER is not followed"),
        (["O", "E-PER"], "BIOES", "E-PER does not continue"),
        (["B-PER", "E-LOC"], "BIOES", "B-PER is not followed"),
        (["O", "L-PER"], "BILOU", "L-PER does not continue"),
    ]:
        with pytest.raises(InputError, match=needle):
            validate_tags(tags, scheme, strict=True)
    validate_tags(["I-PER", "O", "I-PER"], "IO", strict=True)


def test_convert_tags_validates_its_input() -> None:
    with pytest.raises(InputError, match="f.conll:3"):
        convert_tags(["B-PER", "S-PER"], "IOB2", "BIOES", path="f.conll", line=3)


# --- properties ---------------------------------------------------------------------------


@st.composite
def sentences_with_spans(draw: st.DrawFn) -> tuple[int, list[Span]]:
    """A sentence length and non-overlapping spans over it, with random gaps (often none)."""
    length = draw(st.integers(0, 14))
    spans: list[Span] = []
    position = draw(st.integers(0, 2))
    while position < length:
        size = draw(st.integers(1, min(4, length - position)))
        spans.append(Span(position, position + size, draw(st.sampled_from(TYPES))))
        position += size + draw(st.integers(0, 2))
    return length, spans


@given(sentences_with_spans(), st.sampled_from(SCHEMES))
def test_tags_from_spans_is_valid_and_round_trips(
    sentence: tuple[int, list[Span]], scheme: str
) -> None:
    length, spans = sentence
    tags = tags_from_spans(spans, length, scheme)
    assert len(tags) == length
    validate_tags(tags, scheme, strict=True)
    decoded = spans_from_tags(tags, scheme)
    if scheme == "IO":  # adjacent entities of one type merge; nothing else is lost
        merged: list[Span] = []
        for span in spans:
            if merged and merged[-1].end == span.start and merged[-1].label == span.label:
                merged[-1] = Span(merged[-1].start, span.end, span.label)
            else:
                merged.append(span)
        assert decoded == merged
    else:
        assert decoded == spans
        assert convert_tags(tags, scheme, "IOB2") == tags_from_spans(spans, length, "IOB2")
    if scheme != "BILOU":  # seqeval does not know L- and U-
        assert seqeval_spans(tags) == decoded


TAG_ALPHABET = st.sampled_from(
    ["O"] * 4
    + [f"{p}-{t}" for p in "BIES" for t in ("PER", "LOC", "B-I")]
    + ["B", "I", "E", "S", "X-PER", ".", ".-PER", "O-PER", "X", "B-", "I-_"]
)


@settings(max_examples=400)
@given(st.lists(TAG_ALPHABET, max_size=14))
def test_spans_from_tags_equals_seqeval(tags: list[str]) -> None:
    assert spans_from_tags(tags) == seqeval_spans(tags)
    assert spans_from_tags(tags, "IOB1") == seqeval_spans(tags)


@given(
    st.lists(st.sampled_from(["O", "O"] + [f"{p}-{t}" for p in "BI" for t in TYPES]), max_size=14)
)
def test_ignore_labels_equals_dropping_spans(tags: list[str]) -> None:
    ignored = {"LOC", "B-I"}
    out = ignore_labels(tags, ignored)
    validate_tags(out, "IOB2", strict=True)
    assert spans_from_tags(out) == drop_labels(spans_from_tags(tags), ignored)
    # ... and equals blanking the tags themselves, which is how seqeval users ignore types
    blanked = ["O" if t != "O" and t[2:] in ignored else t for t in tags]
    assert spans_from_tags(out) == seqeval_spans(blanked)
