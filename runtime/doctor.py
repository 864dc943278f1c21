"""What ``xner doctor`` reports: versions, devices, compute types and thread settings."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from xner.runtime.engines.options import EngineOptions, cuda_available_for_ctranslate2
from xner.runtime.version import __version__

PACKAGES = ("numpy", "onnxruntime", "onnxruntime-gpu", "ctranslate2", "sentencepiece", "tokenizers")


@dataclass
class DoctorReport:
    """Facts about this machine as the engines see them."""

    xner: str
    python: str
    platform: str
    cpu_count: int | None
    usable_cpus: int | None
    packages: dict[str, str | None] = field(default_factory=dict)
    onnxruntime_providers: list[str] = field(default_factory=list)
    ctranslate2_cuda_devices: int = 0
    ctranslate2_compute_types: dict[str, list[str]] = field(default_factory=dict)
    threads: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        """A readable report, one fact a line."""
        lines = [
            f"xner {self.xner}",
            f"python {self.python} on {self.platform}",
            f"cpus: {self.cpu_count} (usable by this process: {self.usable_cpus})",
            "packages:",
        ]
        lines += [
            f"  {name}: {version or 'not installed'}" for name, version in self.packages.items()
        ]
        lines.append(f"onnxruntime providers: {', '.join(self.onnxruntime_providers) or 'none'}")
        lines.append(f"ctranslate2 CUDA devices: {self.ctranslate2_cuda_devices}")
        for device, types in self.ctranslate2_compute_types.items():
            lines.append(f"ctranslate2 compute types on {device}: {', '.join(types)}")
        lines.append("threads the engines would use:")
        lines += [f"  {key}: {value}" for key, value in self.threads.items()]
        return "\n".join(lines) + "\n"


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def doctor(options: EngineOptions | None = None) -> DoctorReport:
    """Collect the report (imports onnxruntime and ctranslate2, never torch)."""
    import ctranslate2
    import onnxruntime

    options = options or EngineOptions()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cuda = ctranslate2.get_cuda_device_count() if cuda_available_for_ctranslate2() else 0
    devices = ["cpu"] + (["cuda"] if cuda else [])
    intra = options.intra_threads
    return DoctorReport(
        xner=__version__,
        python=sys.version.split()[0],
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        usable_cpus=usable,
        packages={name: _version(name) for name in PACKAGES},
        onnxruntime_providers=list(onnxruntime.get_available_providers()),
        ctranslate2_cuda_devices=cuda,
        ctranslate2_compute_types={
            d: sorted(ctranslate2.get_supported_compute_types(d)) for d in devices
        },
        threads={
            "intra_threads": f"{intra} ({'library default' if intra == 0 else 'as set'})",
            "inter_threads": options.inter_threads,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
            "max_batch_size": options.max_batch_size,
            "max_batch_tokens": options.max_batch_tokens,
        },
    )
