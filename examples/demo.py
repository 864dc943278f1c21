"""`make demo`: project English entities onto Swahili and evaluate, with both methods.

Uses the hand-made example in examples/swahili (see its README). Everything here goes through
the same library functions as `xner project` and `xner evaluate`.
"""

from __future__ import annotations

from pathlib import Path

from xner.runtime.evaluate import evaluate
from xner.runtime.formats import read_sentences
from xner.runtime.jobs import projected_sentences

HERE = Path(__file__).resolve().parent / "swahili"


def show(sentence_tags: list[tuple[str, str]]) -> str:
    """Words with their tags, entities marked as [words]/TYPE."""
    text = []
    for k, (word, tag) in enumerate(sentence_tags):
        piece = f"[{word}" if tag.startswith("B-") else word
        following = sentence_tags[k + 1][1] if k + 1 < len(sentence_tags) else "O"
        if tag != "O" and not following.startswith("I-"):
            piece += f"]/{tag[2:]}"
        text.append(piece)
    return " ".join(text)


def main() -> None:
    source = HERE / "english.conll"
    target = HERE / "swahili.txt"
    links = HERE / "english-swahili.talp"
    gold = list(read_sentences(HERE / "swahili.gold.conll"))
    english = list(read_sentences(source))
    print("xner demo: projecting English entities onto Swahili through word alignments\n")
    for method in ("heuristic", "ngram"):
        predicted = list(projected_sentences(source, target, links, method=method))
        print(f"== method: {method}")
        for en, sw in zip(english, predicted, strict=True):
            print("  en:", show(list(zip(en.tokens, en.tags or [], strict=True))))
            print("  sw:", show(list(zip(sw.tokens, sw.tags or [], strict=True))))
            print()
        print(evaluate(gold, predicted).format_table())
    print("Same with the command line:")
    print(
        "  xner project --source examples/swahili/english.conll "
        "--target examples/swahili/swahili.txt \\\n"
        "      --alignments examples/swahili/english-swahili.talp --method ngram -o out.conll\n"
        "  xner evaluate examples/swahili/swahili.gold.conll out.conll"
    )


if __name__ == "__main__":
    main()
