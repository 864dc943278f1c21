"""xner export: turn public checkpoints into a bundle (may use torch; never imported at run time).

Importing this package is light (no torch): the heavy libraries load when an export runs.
"""

from xner.export.api import ExportResult, export_bundle
from xner.export.options import (
    AlignerSpec,
    ExportError,
    ExportOptions,
    OnnxOptions,
    TaggerSpec,
    TranslatorSpec,
    ValidationOptions,
)
from xner.export.recipe import Recipe, load_recipe
from xner.export.tiny import TinyModels, build_tiny_models

__all__ = [
    "AlignerSpec",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "OnnxOptions",
    "Recipe",
    "TaggerSpec",
    "TinyModels",
    "TranslatorSpec",
    "ValidationOptions",
    "build_tiny_models",
    "export_bundle",
    "load_recipe",
]
