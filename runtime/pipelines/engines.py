"""The engines of one bundle, built once and shared by every pipeline run (faster-whisper style).

``Engines(bundle)`` loads the bundle once and builds each engine the first time a pipeline needs
it: translate-test needs all three, translate-train the translator and the aligner, model
transfer the tagger only. Ready engines can be handed in instead (tests, notebooks, experiments
that compare settings on the same models without reloading them).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from xner.runtime.aligner import Aligner
from xner.runtime.bundle import Bundle
from xner.runtime.engine import EngineOptions
from xner.runtime.errors import ConfigError
from xner.runtime.tagger import Tagger
from xner.runtime.translator import Translator

__all__ = ["Engines"]


class Engines:
    """The translator, tagger and aligner of one bundle, each built on first use and then kept.

    ``bundle``: a loaded :class:`~xner.runtime.bundle.Bundle` or the path of one (loaded once,
    with ``verify``: SHA-256 of every file when true, sizes only when false). May be None when
    all the engines a pipeline needs are given ready.
    ``options``: engine settings shared by the three engines
    (:class:`~xner.runtime.engine.EngineOptions`); keyword ``knobs`` override its fields
    (``Engines(path, device="cpu", intra_threads=2)``).
    ``translator``, ``tagger``, ``aligner``: ready engines to use instead of building them.
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str] | None = None,
        options: EngineOptions | None = None,
        *,
        verify: bool = True,
        translator: Translator | None = None,
        tagger: Tagger | None = None,
        aligner: Aligner | None = None,
        **knobs: Any,
    ) -> None:
        self.options = EngineOptions.merge(
            options, knobs, engine="Engines", own=("verify", "translator", "tagger", "aligner")
        )
        if bundle is not None and not isinstance(bundle, Bundle):
            bundle = Bundle.load(bundle, verify=verify)
        self.bundle: Bundle | None = bundle
        self._engines: dict[str, Any] = {
            name: engine
            for name, engine in (
                ("translator", translator),
                ("tagger", tagger),
                ("aligner", aligner),
            )
            if engine is not None
        }

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

    def _get(self, name: str, build: type) -> Any:
        engine = self._engines.get(name)
        if engine is None:
            if self.bundle is None:
                raise ConfigError(f"no {name}: give a bundle or a ready {build.__name__}")
            engine = self._engines[name] = build(self.bundle, self.options)
        return engine

    @property
    def translator(self) -> Translator:
        """The :class:`~xner.runtime.translator.Translator` (built on first use)."""
        return self._get("translator", Translator)

    @property
    def tagger(self) -> Tagger:
        """The :class:`~xner.runtime.tagger.Tagger` (built on first use)."""
        return self._get("tagger", Tagger)

    @property
    def aligner(self) -> Aligner:
        """The :class:`~xner.runtime.aligner.Aligner` (built on first use)."""
        return self._get("aligner", Aligner)

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
