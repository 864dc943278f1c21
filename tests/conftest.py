"""Shared fixtures: the real evaluation data in ../shared/data (used by path, never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# tiny_models, tiny_bundle, tiny_bundle_fp32: tiny random models exported once per run.
pytest_plugins = ["fixtures_models"]

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("XNER_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real evaluation data; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real evaluation data not found at {SHARED_DATA} (set XNER_SHARED_DATA)")
    return SHARED_DATA
