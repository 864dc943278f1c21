"""xner runtime: torch-free NER by translation and annotation projection.

Importing this package does no work: engines load their libraries when they are built.
"""

from xner.runtime.version import __version__

__all__ = ["__version__"]
