"""`make demo`: the xner pipeline, end to end, on a hand-made English/Swahili example.

Part 1 projects English entities onto Swahili through hand-made word alignments (no model) and
evaluates the result. Part 2 runs the neural pipelines (translate-test, translate-train, model
transfer) on the same sentences with a TINY RANDOM-WEIGHT bundle built by
examples/build_demo_bundle.py: every stage really runs (CTranslate2, ONNX Runtime, alignment,
projection, evaluation), but random models translate and tag nonsense, so the figures of part 2
mean nothing. This script never imports torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

from xner.runtime.evaluate import Evaluator, evaluate
from xner.runtime.files.formats import read_sentences
from xner.runtime.jobs.projection_files import ProjectConfig, projected_sentences
from xner.runtime.pipelines import Engines, model_transfer, translate_test, translate_train

HERE = Path(__file__).resolve().parent / "swahili"
SOURCE, TARGET = HERE / "english.conll", HERE / "swahili.txt"
LINKS, GOLD = HERE / "english-swahili.talp", HERE / "swahili.gold.conll"


def show(words: list[str], tags: list[str]) -> str:
    """Words with entities marked as ``[words]/TYPE``."""
    text = []
    for k, (word, tag) in enumerate(zip(words, tags, strict=True)):
        piece = f"[{word}" if tag.startswith("B-") else word
        following = tags[k + 1] if k + 1 < len(tags) else "O"
        if tag != "O" and not following.startswith("I-"):
            piece += f"]/{tag[2:]}"
        text.append(piece)
    return " ".join(text)


def part_one() -> None:
    print("=" * 78)
    print("Part 1: projection through word alignments (hand-made, no model)")
    print("=" * 78)
    gold = list(read_sentences(GOLD))
    english = list(read_sentences(SOURCE))
    for method in ("heuristic", "ngram"):
        predicted = list(projected_sentences(SOURCE, ProjectConfig(TARGET, LINKS, method)))
        print(f"\n-- method: {method}")
        for en, sw in zip(english, predicted, strict=True):
            print("  en:", show(en.tokens, en.tags or []))
            print("  sw:", show(sw.tokens, sw.tags or []))
        print()
        print(evaluate(gold, predicted).format_table())


def part_two(bundle: Path) -> None:
    print("=" * 78)
    print("Part 2: the neural pipelines on a TINY RANDOM-WEIGHT bundle")
    print("  The models have random weights: translations and tags are nonsense and the")
    print("  scores mean nothing. This shows the mechanics only. For real models, export a")
    print("  bundle on a connected machine:  xner export --recipe models/default.toml \\")
    print("      --out bundles/default   then   xner translate-test --bundle bundles/default \\")
    print("      --lang swh_Latn swahili.txt -o swahili.conll")
    print("=" * 78)
    engines = Engines(bundle, intra_threads=1)
    gold = list(read_sentences(GOLD))
    english = list(read_sentences(SOURCE))

    print("\n-- translate-test: Swahili -> English, tag, align, project back (first 2)")
    scores = Evaluator()
    results = list(translate_test(engines, gold, "swh_Latn", method="ngram"))
    for result, reference in zip(results, gold, strict=True):
        scores.add(reference.tags or [], result.tags)
    for result in results[:2]:
        print("  translation:", (result.translation or "")[:70])
        print("  English    :", show(result.english_tokens, _tags(result))[:100])
        print("  projected  :", show(result.tokens, result.tags))
    print()
    print(scores.result().format_table())

    print("-- model transfer: the tagger on the Swahili words directly")
    transfer = list(model_transfer(engines, gold))
    print(evaluate(gold, [r.tags for r in transfer]).format_table())

    print("-- translate-train: English CoNLL -> Swahili training data (first 2)")
    made = list(translate_train(engines, english, "eng_Latn", "swh_Latn"))
    for result in made[:2]:
        print("  source:", show(result.source_tokens, _source_tags(result)))
        print("  target:", show(result.tokens, result.tags)[:100])
    lost = sum(1 for r in made if r.lost)
    print(f"\n  {len(made)} sentences made, {lost} lost at least one entity in projection")
    print("\nSame from the command line: xner translate-test / translate-train / tag / experiment")


def _tags(result) -> list[str]:
    from xner.runtime.tags import tags_from_spans

    return tags_from_spans(result.english_spans, len(result.english_tokens))


def _source_tags(result) -> list[str]:
    from xner.runtime.tags import tags_from_spans

    return tags_from_spans(result.source_spans, len(result.source_tokens))


def main() -> None:
    part_one()
    if len(sys.argv) > 1:
        part_two(Path(sys.argv[1]))


if __name__ == "__main__":
    main()
