"""What the fuzz tests share: hypothesis settings sized by ``XNER_FUZZ_EXAMPLES``, and counts.

``make test`` runs each fuzz target with a small default number of examples, derandomized so that
the run is reproducible; ``make fuzz`` sets ``XNER_FUZZ_EXAMPLES`` (random seeds then) and
``XNER_FUZZ_COUNTS``, a JSON file into which every module that imports :func:`write_fuzz_counts`
merges its per-target counts when it finishes.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

FUZZ_COUNTS: Counter[str] = Counter()
"""Inputs run per target (and any finer counts a target keeps), for ``XNER_FUZZ_COUNTS``."""


def fuzz_settings(default_examples: int) -> settings:
    """Hypothesis settings: ``XNER_FUZZ_EXAMPLES`` examples (else ``default_examples``)."""
    chosen = os.environ.get("XNER_FUZZ_EXAMPLES")
    return settings(
        max_examples=int(chosen) if chosen else default_examples,
        deadline=None,
        database=None,
        derandomize=chosen is None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module", autouse=True)
def write_fuzz_counts():
    """After the module's tests: merge :data:`FUZZ_COUNTS` into ``$XNER_FUZZ_COUNTS``."""
    yield
    target = os.environ.get("XNER_FUZZ_COUNTS")
    if target:
        path = Path(target)
        done = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        done.update(FUZZ_COUNTS)
        path.write_text(json.dumps(done, indent=1, sort_keys=True) + "\n", encoding="utf-8")
