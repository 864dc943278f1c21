"""xner runtime: torch-free NER by translation and annotation projection.

Importing this package does no work: engines load their libraries when they are built. The
folders are the layers of the runtime (conventions, files, alignment and bundles, engines and
projection, pipelines, jobs and the experiment): docs/ARCHITECTURE.md.
"""

from xner.runtime.version import __version__

__all__ = ["__version__"]
