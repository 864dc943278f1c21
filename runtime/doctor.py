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
    cpu: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        """A readable report, one fact a line."""
        lines = [
            f"xner {self.xner}",
            f"python {self.python} on {self.platform}",
            f"cpus: {self.cpu_count} (usable by this process: {self.usable_cpus})",
        ]
        lines += [f"cpu {key}: {value}" for key, value in self.cpu.items()]
        lines.append("packages:")
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


def cpu_facts(cpuinfo: str | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The CPU's vendor, model and instruction-set flags that matter to the engines, and the
    GEMM backend and instruction set CTranslate2 will pick on it.

    CTranslate2's x86 wheels use Intel MKL on ``GenuineIntel`` CPUs and oneDNN elsewhere
    (``CT2_USE_MKL`` overrides), and dispatch AVX2 kernels unless ``CT2_FORCE_CPU_ISA`` says
    otherwise (AVX-512 is never picked by itself). Both are read once per process, at the
    first model load: set them before starting xner. ``cpuinfo``: the text of
    ``/proc/cpuinfo`` (read when None; empty facts where there is none).
    """
    environ = dict(os.environ) if environ is None else environ
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            cpuinfo = ""
    found: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        found.setdefault(key.strip(), value.strip())
    flags = set(found.get("flags", "").split())
    vendor = found.get("vendor_id", "unknown")
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
    use_mkl = environ.get("CT2_USE_MKL", "").strip().lower()
    mkl = use_mkl in ("1", "true", "on") if use_mkl else vendor == "GenuineIntel"
    backend = "Intel MKL" if mkl else "oneDNN"
    backend += " (CT2_USE_MKL set)" if use_mkl else f" (by vendor {vendor})"
    isa = environ.get("CT2_FORCE_CPU_ISA") or "AVX2 (CTranslate2's default dispatch)"
    return {
        "vendor": vendor,
        "model": found.get("model name", "unknown"),
        "flags": ", ".join(f for f in wanted if f in flags) or "none of " + ", ".join(wanted),
        "ctranslate2 int8 backend": backend,
        "ctranslate2 instruction set": isa,
    }


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
        cpu=cpu_facts(),
    )
