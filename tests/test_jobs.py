"""The file-level projection job (xner.runtime.jobs.projection_files): chunked projection, same
results and order.

The job projects ``chunk_size`` sentences per batched call; these tests shrink the chunk so that
the six example sentences span several chunks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xner.runtime.alignment.pharaoh import read_alignments
from xner.runtime.errors import InputError
from xner.runtime.files.formats import read_sentences
from xner.runtime.jobs import projection_files as jobs
from xner.runtime.projection import project
from xner.runtime.tags import spans_from_tags, tags_from_spans

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "swahili"
SOURCE, TARGET = EXAMPLE / "english.conll", EXAMPLE / "swahili.txt"
LINKS = EXAMPLE / "english-swahili.talp"


def one_at_a_time(method: str) -> list[list[str]]:
    """The tags of each target sentence, projected alone."""
    out = []
    for src, tgt, links in zip(
        read_sentences(SOURCE), read_sentences(TARGET), read_alignments(LINKS), strict=True
    ):
        spans = project(spans_from_tags(src.tags), links, len(tgt.tokens), method, None, tgt.tokens)
        out.append(tags_from_spans(spans, len(tgt.tokens)))
    return out


@pytest.mark.parametrize("chunk_size", [1, 4, 512])
@pytest.mark.parametrize("method", ["heuristic", "ngram"])
def test_chunks_give_the_results_of_one_sentence_at_a_time(chunk_size, method):
    stats = jobs.ProjectionStats()
    config = jobs.ProjectConfig(TARGET, LINKS, method, chunk_size=chunk_size)
    out = list(jobs.projected_sentences(SOURCE, config, stats=stats))
    assert [s.tags for s in out] == one_at_a_time(method)
    assert [s.tokens for s in out] == [s.tokens for s in read_sentences(TARGET)]
    assert stats.sentences == 6 and stats.source_entities == 15
    assert stats.projected_entities == sum(len(spans_from_tags(s.tags)) for s in out)


def test_sentences_before_a_problem_come_out_first(tmp_path):
    """A bad tag in sentence 5: the four sentences before it are yielded, then the error."""
    blocks = SOURCE.read_text(encoding="utf-8").strip().split("\n\n")
    lines = blocks[4].splitlines()
    lines[0] = lines[0].split("\t")[0] + "\tX-PER"
    blocks[4] = "\n".join(lines)
    bad = tmp_path / "bad.conll"
    bad.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    stream = jobs.projected_sentences(bad, jobs.ProjectConfig(TARGET, LINKS, chunk_size=3))
    done = [next(stream) for _ in range(4)]
    assert [s.tags for s in done] == one_at_a_time("heuristic")[:4]
    with pytest.raises(InputError, match="X-PER"):
        next(stream)
