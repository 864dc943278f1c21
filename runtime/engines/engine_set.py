"""The engines of one bundle, built once and shared by every pipeline run (faster-whisper style).

``Engines(bundle)`` loads the bundle once and builds each engine the first time a pipeline needs
it: translate-test needs all three, translate-train the translator and the aligner, model
transfer the tagger only. :meth:`Engines.preload` builds the engines a pipeline will need next in
background threads while its first stage runs (CTranslate2 and ONNX Runtime release the GIL
while loading); each engine has a lock, so a use during its load waits for it and no engine is
ever built twice, and an error of a background load is raised at the engine's first use. Ready
engines can be handed in instead (tests, notebooks, experiments that compare settings on the
same models without reloading them): any object that satisfies the engine's Protocol
(:mod:`xner.runtime.engines.protocols`: another backend, a remote proxy, a test's fake) will do.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import threading
from collections.abc import Callable, Collection, Iterable
from typing import Any

from xner.runtime.alignment.methods import get_method
from xner.runtime.bundles.bundle import COMPONENT_ENGINES, COMPONENTS, Bundle
from xner.runtime.engines.aligner import Aligner
from xner.runtime.engines.options import EngineOptions, choose_device
from xner.runtime.engines.protocols import AlignerEngine, TaggerEngine, TranslatorEngine
from xner.runtime.engines.tagger import Tagger
from xner.runtime.engines.translator import COMPUTE_TYPES, Translator
from xner.runtime.errors import ConfigError, unknown_choice

_DEFAULT_BEAM = inspect.signature(Translator).parameters["beam_size"].default
_DEFAULT_ALIGN_METHOD = inspect.signature(Aligner).parameters["method"].default

__all__ = ["BUILDERS", "Engines", "check_engine_settings"]

BUILDERS: dict[str, Callable[[Bundle, EngineOptions], object]] = {
    "translator": Translator,
    "tagger": Tagger,
    "aligner": Aligner,
}
"""How :class:`Engines` builds each engine from the bundle (tests swap in slow or failing ones)."""


class Engines:
    """The translator, tagger and aligner of one bundle, each built on first use and then kept.

    ``bundle``: a loaded :class:`~xner.runtime.bundles.bundle.Bundle` or the path of one (loaded
    once; sizes checked at once and, with ``verify``, each component's SHA-256 sums while its
    engine is built: :meth:`~xner.runtime.bundles.bundle.Bundle.build_verified`). May be None
    when all the engines a pipeline needs are given ready.
    ``options``: engine settings shared by the three engines
    (:class:`~xner.runtime.engines.options.EngineOptions`); keyword ``knobs`` override its fields
    (``Engines(path, device="cpu", intra_threads=2)``).
    ``translator``, ``tagger``, ``aligner``: ready engines to use instead of building them, any
    objects that satisfy :class:`~xner.runtime.engines.protocols.TranslatorEngine`,
    :class:`~xner.runtime.engines.protocols.TaggerEngine` and
    :class:`~xner.runtime.engines.protocols.AlignerEngine`.
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str] | None = None,
        options: EngineOptions | None = None,
        *,
        verify: bool = True,
        translator: TranslatorEngine | None = None,
        tagger: TaggerEngine | None = None,
        aligner: AlignerEngine | None = None,
        **knobs: Any,
    ) -> None:
        self.options = EngineOptions.merge(
            options, knobs, engine="Engines", own=("verify", *COMPONENTS)
        )
        if bundle is not None and not isinstance(bundle, Bundle):
            bundle = Bundle.load(bundle, verify=verify, defer_hashes=True)
        self.bundle: Bundle | None = bundle
        self._ready: dict[str, object | None] = {
            "translator": translator,
            "tagger": tagger,
            "aligner": aligner,
        }
        self._locks = {name: threading.Lock() for name in self._ready}
        self._failed: dict[str, Exception] = {}  # a background load's error, until used
        self._loading: dict[str, threading.Thread] = {}

    @classmethod
    def of(
        cls,
        value: Engines | Bundle | str | os.PathLike[str],
        options: EngineOptions | None = None,
        *,
        verify: bool = True,
    ) -> Engines:
        """``value`` itself when it is :class:`Engines`, else engines over that bundle."""
        if isinstance(value, Engines):
            return value
        return cls(value, options, verify=verify)

    def _bundle_for(self, name: str) -> Bundle:
        if self.bundle is None:
            raise ConfigError(f"no {name}: give a bundle or a ready {name.capitalize()}")
        return self.bundle

    def _engine(self, name: str) -> Any:
        """The engine ``name``, built now under its lock unless ready (or being built: then
        this waits for it). A background load's error is raised here, once."""
        engine = self._ready[name]
        if engine is not None:
            return engine
        with self._locks[name]:
            error = self._failed.pop(name, None)
            if error is not None:
                raise error
            if self._ready[name] is None:
                self._ready[name] = self._build(name)
            return self._ready[name]

    def _build(self, name: str) -> object:
        """Build the engine ``name``; a bundle loaded here has its component's files hashed
        meanwhile (:meth:`Bundle.build_verified`)."""
        bundle = self._bundle_for(name)
        return bundle.build_verified(name, lambda: BUILDERS[name](bundle, self.options))

    def preload(self, names: Iterable[str]) -> list[str]:
        """Start building the engines ``names`` (not ready, not loading) in background threads;
        returns those started. Each is joined at its first use (:attr:`translator`, ...); an
        error is raised there, as a build at first use would raise it. Without a bundle,
        nothing is started."""
        started = []
        for name in names:
            if name not in self._ready:
                raise unknown_choice("engine", name, tuple(self._ready))
            if self._ready[name] is not None or name in self._loading or self.bundle is None:
                continue
            thread = threading.Thread(
                target=self._load_quietly, args=(name,), name=f"xner-load-{name}"
            )
            self._loading[name] = thread
            thread.start()
            started.append(name)
        return started

    def _load_quietly(self, name: str) -> None:
        """A background load: keep the error for the first use instead of raising it."""
        with self._locks[name]:
            if self._ready[name] is not None or name in self._failed:
                return
            try:
                self._ready[name] = self._build(name)
            except Exception as error:  # noqa: BLE001  (raised again at first use)
                self._failed[name] = error

    @property
    def translator(self) -> TranslatorEngine:
        """The translator (:class:`~xner.runtime.engines.translator.Translator`, built on first
        use, or the ready engine given)."""
        engine: TranslatorEngine = self._engine("translator")
        return engine

    @property
    def tagger(self) -> TaggerEngine:
        """The tagger (:class:`~xner.runtime.engines.tagger.Tagger`, built on first use, or the
        ready engine given)."""
        engine: TaggerEngine = self._engine("tagger")
        return engine

    @property
    def aligner(self) -> AlignerEngine:
        """The aligner (:class:`~xner.runtime.engines.aligner.Aligner`, built on first use, or
        the ready engine given)."""
        engine: AlignerEngine = self._engine("aligner")
        return engine

    @property
    def _engines(self) -> dict[str, object]:
        """The engines ready now (given or built), by component name."""
        return {name: engine for name, engine in self._ready.items() if engine is not None}

    def options_of(self, name: str) -> EngineOptions:
        """The engine settings ``name`` runs (or will run) with: a ready engine's own."""
        engine = self._engines.get(name)
        options = getattr(engine, "options", None)
        return options if isinstance(options, EngineOptions) else self.options

    def fingerprint(
        self,
        needs: Collection[str],
        *,
        beam_size: int | None = None,
        align_method: str | None = None,
    ) -> dict[str, Any]:
        """What in the engines can change a pipeline's output, for the resume check.

        ``bundle`` (:meth:`identity`), ``device`` (the device class each engine in ``needs``
        resolves to, ``cpu`` or ``cuda``: ``auto`` is resolved now, and ``cuda`` without a CUDA
        device is an error now), the translator's ``compute_type`` (as asked: ``default`` and
        ``int8`` count as different), its ``beam_size``, its ``vocab_restriction`` (only for a
        bundle with a validated restriction: elsewhere the switch changes nothing) and the
        aligner's ``align_method`` (the defaults resolved). Threads, batch sizes and the device
        number are left out: they change speed, not labels (a sentence's labels never depend on
        its batch).
        """
        devices = {
            name: choose_device(self.options_of(name).device, COMPONENT_ENGINES[name])[0]
            for name in needs
        }
        classes = sorted(set(devices.values()))
        out: dict[str, Any] = {
            "bundle": self.identity(),
            "device": classes[0]
            if len(classes) == 1
            else ", ".join(f"{name} {device}" for name, device in devices.items()),
        }
        if "translator" in needs:
            out["compute_type"] = self.options_of("translator").compute_type
            out["beam_size"] = beam_size or getattr(
                self._engines.get("translator"), "beam_size", _DEFAULT_BEAM
            )
            if self._validated_restriction():
                out["vocab_restriction"] = self.options_of("translator").vocab_restriction
        if "aligner" in needs:
            out["align_method"] = align_method or getattr(
                self._engines.get("aligner"), "method", _DEFAULT_ALIGN_METHOD
            )
        return out

    def _validated_restriction(self) -> bool:
        """Whether the bundle's translator has a validated vocabulary restriction."""
        component = None if self.bundle is None else self.bundle.translator
        restriction = None if component is None else component.settings.vocabulary_restriction
        return restriction is not None and restriction.validated

    def entity_types(self) -> list[str]:
        """The tagger's entity types, read from the manifest without building the tagger."""
        if "tagger" in self._engines or self.bundle is None:
            return list(self.tagger.entity_types)
        labels = self.bundle.require("tagger").settings.labels
        return sorted({label[2:] for label in labels if label != "O"})

    def identity(self) -> str:
        """A digest of the bundle's manifest (which pins every file by SHA-256): two runs with
        the same identity use the same models. Ready engines contribute their bundles'."""
        manifests = [] if self.bundle is None else [dict(self.bundle.manifest)]
        for name in sorted(self._engines):
            bundle = getattr(self._engines[name], "bundle", None)
            if isinstance(bundle, Bundle) and bundle is not self.bundle:
                manifests.append({name: dict(bundle.manifest)})
        text = json.dumps(manifests, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def check_engine_settings(
    options: EngineOptions | None,
    *,
    translator: bool = False,
    beam_size: int | None = None,
    align_method: str | None = None,
) -> None:
    """Check settings that the engines would otherwise check only when built (after the bundle
    is loaded): the compute type (when a ``translator`` runs), ``beam_size``, ``align_method``."""
    if translator and options is not None and options.compute_type not in COMPUTE_TYPES:
        raise unknown_choice("compute type", options.compute_type, COMPUTE_TYPES)
    if beam_size is not None and (
        not isinstance(beam_size, int) or isinstance(beam_size, bool) or beam_size < 1
    ):
        raise ConfigError(f"beam_size must be an integer >= 1, got {beam_size!r}")
    if align_method is not None:
        get_method(align_method)
