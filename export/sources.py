"""Where a component comes from: checkpoint id, revision and licence, with licence warnings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger("xner")

NON_COMMERCIAL = ("cc-by-nc", "cc-by-nc-sa", "cc-by-nc-nd")


def read_card_license(model: str, revision: str | None = None) -> str | None:
    """The ``license:`` of a model card (README.md front matter), or ``None`` when unknown.

    A local folder is read directly; a hub id is looked up through huggingface_hub (its cache
    when offline). Any failure gives ``None``: the licence is then recorded as unknown.
    """
    card: Path | None = None
    if Path(model).is_dir():
        card = Path(model) / "README.md"
    else:
        try:
            from huggingface_hub import hf_hub_download

            card = Path(hf_hub_download(model, "README.md", revision=revision))
        except Exception as error:  # offline, gated or no card: the licence stays unknown
            logger.info("no model card for %s (%s)", model, error)
            return None
    if not card.is_file():
        return None
    lines = card.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for line in lines[1:]:
        if line.strip() == "---":
            break
        key, sep, value = line.partition(":")
        if sep and key.strip() == "license" and value.strip():
            return value.strip().strip("'\"")
    return None


def source_record(
    model: str,
    config: Any,
    revision: str | None,
    license: str | None,
    tokenizer: str | None = None,
    tokenizer_revision: str | None = None,
) -> dict[str, Any]:
    """The manifest's ``source`` object; the revision is the hub commit when one is known."""
    commit = revision or getattr(config, "_commit_hash", None)
    return {
        "id": model,
        "revision": commit,
        "license": license if license is not None else read_card_license(model, revision),
        "tokenizer_id": tokenizer or model,
        "tokenizer_revision": tokenizer_revision if tokenizer else commit,
    }


def license_warnings(part: str, source: dict[str, Any]) -> list[str]:
    """Warnings about the licence of a part (non-commercial NLLB-200 weights, unknown licence)."""
    license = (source.get("license") or "").lower()
    model = str(source.get("id", ""))
    notes = []
    if license.startswith(NON_COMMERCIAL) or "nllb" in model.lower():
        notes.append(
            f"{part} {model}: NLLB-200 weights are CC-BY-NC-4.0 (non-commercial use only); "
            "check the licence before any commercial use"
            if "nllb" in model.lower()
            else f"{part} {model}: licence {license} forbids commercial use"
        )
    elif not license:
        notes.append(f"{part} {model}: licence unknown (no license in the model card)")
    for note in notes:
        logger.warning("%s", note)
    return notes
