"""Measuring tools shared by both sides of the benchmark (no torch, no xner import here).

- Memory: the whole process's resident set (``VmRSS``) and its peak (``VmHWM``) from
  ``/proc/self/status``; the peak is reset before each stage by writing ``5`` to
  ``/proc/self/clear_refs`` (Linux), so that each stage reports the peak reached during it
  (models already loaded included). ``ru_maxrss`` gives the peak of the whole run.
- Engine time: :class:`EngineClock` counts the wall time spent inside CTranslate2 and ONNX
  Runtime calls (``translate_batch`` and the results it returns, ``InferenceSession.run``), so
  that xner's own overhead is ``wall - engine``.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")


def _status_kb(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float | None:
    """Current resident set of this process in MiB (None where /proc is missing)."""
    kb = _status_kb("VmRSS")
    return None if kb is None else round(kb / 1024, 1)


def reset_peak() -> bool:
    """Reset the peak resident set (``VmHWM``); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mb() -> float | None:
    """Peak resident set since the last :func:`reset_peak` (or the start), in MiB."""
    kb = _status_kb("VmHWM")
    return None if kb is None else round(kb / 1024, 1)


def process_peak_mb() -> float:
    """Peak resident set of the whole process since it started (``ru_maxrss``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


@dataclass
class Timing:
    """Wall times of repeated runs of one stage and the memory peak reached during them."""

    seconds: list[float] = field(default_factory=list)
    engine_seconds: list[float] = field(default_factory=list)
    peak_mb: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "runs": len(self.seconds),
            "seconds": [round(s, 6) for s in self.seconds],
            "median_s": round(self.median, 6),
            "peak_rss_mb": self.peak_mb,
        }
        if self.engine_seconds:
            engine = statistics.median(self.engine_seconds)
            out["engine_median_s"] = round(engine, 6)
            out["overhead_share"] = round(max(0.0, 1 - engine / self.median), 4)
        return out


def timed_runs(
    fn: Callable[[], Any], runs: int, clock: EngineClock | None = None
) -> tuple[Timing, Any]:
    """Call ``fn`` ``runs`` times; return the timing and the last result."""
    timing = Timing()
    reset_peak()
    result = None
    for _ in range(runs):
        if clock is not None:
            clock.reset()
        start = time.perf_counter()
        result = fn()
        timing.seconds.append(time.perf_counter() - start)
        if clock is not None:
            timing.engine_seconds.append(clock.seconds)
    timing.peak_mb = peak_mb()
    return timing, result


class _TimedFuture:
    """An asynchronous CTranslate2 result whose ``result()`` wait is counted as engine time."""

    def __init__(self, future: Any, clock: EngineClock) -> None:
        self._future, self._clock = future, clock

    def result(self) -> Any:
        start = time.perf_counter()
        try:
            return self._future.result()
        finally:
            self._clock.seconds += time.perf_counter() - start

    def done(self) -> bool:
        return self._future.done()


class EngineClock:
    """Counts the wall time spent inside CTranslate2 and ONNX Runtime calls.

    :meth:`install` replaces ``ctranslate2.Translator`` by a subclass whose ``translate_batch``
    is timed (asynchronous results are wrapped so that waiting on them is timed too) and wraps
    ``onnxruntime.InferenceSession.run``. Call it before the engines are built.
    """

    def __init__(self) -> None:
        self.seconds = 0.0

    def reset(self) -> None:
        self.seconds = 0.0

    def install(self) -> EngineClock:
        import ctranslate2
        import onnxruntime

        clock = self
        base = ctranslate2.Translator

        class TimedTranslator(base):  # type: ignore[misc, valid-type]
            def translate_batch(self, *args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    out = super().translate_batch(*args, **kwargs)
                finally:
                    clock.seconds += time.perf_counter() - start
                if kwargs.get("asynchronous"):
                    return [_TimedFuture(future, clock) for future in out]
                return out

        ctranslate2.Translator = TimedTranslator
        run = onnxruntime.InferenceSession.run

        def timed_run(session: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return run(session, *args, **kwargs)
            finally:
                clock.seconds += time.perf_counter() - start

        onnxruntime.InferenceSession.run = timed_run
        return self
