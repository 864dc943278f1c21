"""Build the tiny demo bundle: random-weight models, exported with the real export code.

`make demo` runs this once (it needs the export extra: torch, transformers, onnx); the demo itself
then runs torch-free. The models are random: the bundle shows the mechanics of xner, not its
accuracy. To build a real bundle on a connected machine: `xner export --recipe
models/default.toml --out bundles/default`.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from xner.export import (
    AlignerSpec,
    ExportOptions,
    TaggerSpec,
    TranslatorSpec,
    build_tiny_models,
    export_bundle,
)


def main(out: Path) -> None:
    if (out / "manifest.json").is_file():
        print(f"demo bundle already built: {out}")
        return
    logging.basicConfig(level=logging.ERROR)
    print(f"building a tiny random-weight demo bundle in {out} (about 20 s) ...")
    with tempfile.TemporaryDirectory(prefix="xner-demo-models-") as work:
        models = build_tiny_models(Path(work))
        export_bundle(
            ExportOptions(
                out=out,
                translator=TranslatorSpec(str(models.translator)),
                tagger=TaggerSpec(str(models.tagger)),
                aligner=AlignerSpec(str(models.aligner), layer=1),
            )
        )
    print(f"built {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/demo-bundle"))
