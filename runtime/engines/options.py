"""What the three engines share: their settings, device choice, ONNX sessions and batching.

``Translator`` (CTranslate2), ``Tagger`` and ``Aligner`` (ONNX Runtime) take the same knobs,
described once here by :class:`EngineOptions`, and batch their inputs with the one function
:func:`length_batches`. Engine libraries are imported inside the functions that need them, never
at import time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from xner.runtime.errors import ConfigError, unknown_choice

logger = logging.getLogger("xner")

T = TypeVar("T")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class EngineOptions:
    """Settings shared by the engines (each maps one to one onto a library knob).

    device: ``"auto"`` (CUDA when usable, else CPU; the choice is logged), ``"cpu"``, ``"cuda"``
        or ``"cuda:N"``.
    compute_type: CTranslate2 compute type (``"default"`` keeps the type the model was saved
        with; ``"int8"``, ``"int8_float16"``, ``"float16"``, ``"float32"``, ...). The ONNX engines
        run the graph as exported (int8 or fp32) and ignore it.
    intra_threads: threads used inside one operation (CTranslate2 ``intra_threads``, ONNX Runtime
        ``intra_op_num_threads``); 0 lets the library choose (usually one per core).
    inter_threads: batches run in parallel (CTranslate2 ``inter_threads``, ONNX Runtime
        ``inter_op_num_threads``).
    max_batch_size: most sentences in one batch.
    max_batch_tokens: most padded subword positions in one batch (``batch size x longest``);
        batches are formed from length-sorted inputs so that padding stays small.
    vocab_restriction: translate into a pivot language with the smaller output layer the bundle
        validated at export (CTranslate2's vocabulary map, ``use_vmap``: only the pieces an
        English translation needs); ``False`` always decodes over the whole vocabulary. Used
        only for the targets the manifest lists and when it says validated; never for scoring;
        the ONNX engines ignore it.
    """

    device: str = "auto"
    compute_type: str = "default"
    intra_threads: int = 0
    inter_threads: int = 1
    max_batch_size: int = 32
    max_batch_tokens: int = 8192
    vocab_restriction: bool = True

    def __post_init__(self) -> None:
        resolve_device_name(self.device)  # validates
        if not isinstance(self.vocab_restriction, bool):
            raise ConfigError(
                f"vocab_restriction must be true or false, got {self.vocab_restriction!r}"
            )
        for name in ("intra_threads", "inter_threads", "max_batch_size", "max_batch_tokens"):
            value = getattr(self, name)
            minimum = 0 if name == "intra_threads" else 1
            if not isinstance(value, int) or value < minimum:
                raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")

    def with_(self, **changes: Any) -> EngineOptions:
        """A copy with some settings changed."""
        return replace(self, **changes)

    def recorded(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict for run records (an experiment's ``results.json``):
        every field, ``vocab_restriction`` only when switched off, so that records of runs with
        the default read the same as those written before the switch existed."""
        record = asdict(self)
        if self.vocab_restriction:
            del record["vocab_restriction"]
        return record

    @classmethod
    def merge(
        cls,
        options: EngineOptions | None,
        knobs: dict[str, Any],
        *,
        engine: str = "engine",
        own: Iterable[str] = (),
    ) -> EngineOptions:
        """``options`` (or the defaults) with keyword ``knobs`` applied on top.

        This is how every engine constructor reads its ``**knobs``; an unknown knob is an error
        that lists the valid ones (the shared fields plus the engine's ``own`` arguments).
        """
        known = [f.name for f in fields(cls)]
        for name in knobs:
            if name not in known:
                raise unknown_choice(f"{engine} option", name, [*known, *own])
        base = cls() if options is None else options
        return base.with_(**knobs) if knobs else base


def resolve_device_name(device: str) -> tuple[str, int]:
    """Split ``"cuda:1"`` into ``("cuda", 1)``; an unknown device lists the valid ones."""
    name, _, index = device.partition(":")
    if name not in DEVICES or (index and (name != "cuda" or not index.isdigit())):
        raise ConfigError(f"unknown device {device!r}; choose from auto, cpu, cuda, cuda:N")
    return name, int(index or 0)


def cuda_available_for_ctranslate2() -> bool:
    import ctranslate2

    try:
        count: int = ctranslate2.get_cuda_device_count()
        return count > 0
    except Exception:  # noqa: BLE001  (a broken CUDA install reports as unavailable)
        return False


def cuda_available_for_onnxruntime() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def choose_device(device: str, engine: str) -> tuple[str, int]:
    """Resolve ``auto`` for ``engine`` (``ctranslate2`` or ``onnxruntime``); log the choice."""
    name, index = resolve_device_name(device)
    usable = (
        cuda_available_for_ctranslate2
        if engine == "ctranslate2"
        else cuda_available_for_onnxruntime
    )
    if name == "auto":
        name = "cuda" if usable() else "cpu"
        logger.info("%s: device auto -> %s", engine, name)
    elif name == "cuda" and not usable():
        hint = "install xner[gpu] (onnxruntime-gpu)" if engine == "onnxruntime" else "check CUDA"
        raise ConfigError(f"device {device!r} asked for, but {engine} sees no CUDA device ({hint})")
    return name, index


def onnx_session(model: str | os.PathLike[str], options: EngineOptions) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``model`` with the engine's device and threads."""
    import onnxruntime as ort

    device, index = choose_device(options.device, "onnxruntime")
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = options.intra_threads
    session_options.inter_op_num_threads = options.inter_threads
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session_options.log_severity_level = 3
    providers: list[Any] = ["CPUExecutionProvider"]
    if device == "cuda":
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
    session = ort.InferenceSession(str(Path(model)), session_options, providers=providers)
    logger.info("onnxruntime: %s on %s", Path(model).name, session.get_providers()[0])
    return session


_MALLOC_TRIM: list[Any] = []  # [libc.malloc_trim or None], looked up on first use


def trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``; else nothing).

    CTranslate2 and ONNX Runtime allocate their activations with ``malloc``; glibc keeps what
    they free mapped, scattered through the heap, so in one process running both engines the
    memory one engine freed still counts against the next engine's peak. The engines call this
    before each call into their library (a few milliseconds at most).
    """
    if not _MALLOC_TRIM:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        try:
            _MALLOC_TRIM.append(getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None)
        except OSError:
            _MALLOC_TRIM.append(None)
    if _MALLOC_TRIM[0] is not None:
        _MALLOC_TRIM[0](0)


ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what run_encoder can feed


def run_encoder(
    session: Any,
    sequences: Sequence[np.ndarray],
    inputs: Sequence[str],
    output: str,
    pad_id: int,
    options: EngineOptions,
    dtype: np.dtype = np.dtype(np.int64),
) -> list[np.ndarray]:
    """Run an ONNX encoder (tagger, aligner) over token-id ``sequences``; outputs in input order.

    Sequences are padded with ``pad_id`` in :func:`length_batches` batches (at most
    :data:`MAX_PADDING` padding); ``inputs`` names the
    graph's inputs (``input_ids``, ``attention_mask``, ``token_type_ids``), ``output`` the one
    output read. Each returned array is that sequence's rows of the output, ``[length, ...]``.

    After every batch ONNX Runtime hands the free chunks of its CPU arena back
    (``memory.enable_memory_arena_shrinkage``): the arena would otherwise keep the largest
    activations it ever held, and in a pipeline that memory stacks on top of the translator's
    own peak (measured on the benchmark models: 2,098 -> 1,750 MiB, for no measurable time).
    """
    import onnxruntime as ort

    run_options = ort.RunOptions()
    run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    trim_heap()
    out: list[np.ndarray] = [np.zeros(0)] * len(sequences)
    lengths = [len(seq) for seq in sequences]
    batches = length_batches(
        lengths, options.max_batch_size, options.max_batch_tokens, max_padding=MAX_PADDING
    )
    for batch in batches:
        rows = batch.tolist()
        width = max(lengths[i] for i in rows)
        ids = np.full((len(rows), width), pad_id, dtype=dtype)
        mask = np.zeros((len(rows), width), dtype=dtype)
        for row, index in enumerate(rows):
            ids[row, : lengths[index]] = sequences[index]
            mask[row, : lengths[index]] = 1
        values = {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * mask}
        (result,) = session.run([output], {name: values[name] for name in inputs}, run_options)
        for row, index in enumerate(rows):
            out[index] = result[row, : lengths[index]]
    return out


MAX_PADDING = 0.1
"""An ONNX encoder batch holds at most this share of padding over its real tokens (beyond
:data:`PADDING_SLACK` positions): the int8 tagger spends its time in matrix products over every
padded position. Real-size tagger, 200 CoNLL-2003 sentences (bench/results/
2026-12-02-tagger-padding-real.md): unbounded (batches of 32 sorted by length) 31% padding,
20.7 sentences/s; bound 0.5: 22.2; 0.25: 23.4; 0.1: 12% padding, 27.3 sentences/s and 73 MiB
less peak memory."""
PADDING_SLACK = 64
"""Padded positions a batch may always carry (short inputs: fewer, larger batches)."""


def length_batches(
    lengths: Sequence[int] | np.ndarray,
    max_batch_size: int,
    max_batch_tokens: int,
    max_padding: float | None = None,
) -> Iterator[np.ndarray]:
    """Indices of inputs grouped into batches, longest first.

    A batch holds at most ``max_batch_size`` inputs and at most ``max_batch_tokens`` padded
    positions (its size times its longest input). With ``max_padding``, an input joins a batch
    only while the batch's padding stays within ``max_padding`` times its real tokens or
    within :data:`PADDING_SLACK` positions. An input longer than ``max_batch_tokens`` forms a
    batch of its own. Callers put results back in input order with the indices.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    batch: list[int] = []
    longest = real = 0
    for index in order.tolist():
        length = max(int(lengths[index]), 1)
        longest_if_added = max(longest, length)
        padded = longest_if_added * (len(batch) + 1)
        waste = padded - real - length
        if batch and (
            len(batch) >= max_batch_size
            or padded > max_batch_tokens
            or (
                max_padding is not None
                and waste > PADDING_SLACK
                and waste > max_padding * (real + length)
            )
        ):
            yield np.asarray(batch, dtype=np.int64)
            batch, longest_if_added, real = [], length, 0
        batch.append(index)
        longest = longest_if_added
        real += length
    if batch:
        yield np.asarray(batch, dtype=np.int64)


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items: how streams are fed to the engines."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
