"""Load and verify a bundle: ``manifest.json`` plus the size and SHA-256 of every file.

A bundle is a folder made by ``xner export`` (layout and schema: docs/BUNDLE.md). This module is
the one place that hashes and checks bundle files; the export side reuses :func:`file_entry`.
It is torch-free (json, hashlib, dataclasses only) and opens no network connection.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Generic, TypeVar

from xner.runtime.errors import XnerError

FORMAT = "xner-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
COMPONENTS = ("translator", "tagger", "aligner")
_CHUNK = 1 << 20


class BundleError(XnerError):
    """A bundle that cannot be used: unreadable manifest, missing component or bad files.

    The CLI exits with code 1 on it (as ``xner verify`` does for bad files).
    """

    exit_code = 1

    def __init__(self, root: str | os.PathLike[str], problems: Iterable[str]) -> None:
        self.root = str(root)
        self.problems = list(problems)
        joined = "; ".join(self.problems)
        super().__init__(f"{self.root}: {joined}")


# ---------------------------------------------------------------------------------------------
# Files: hashing and verification (the only copy of this code)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a bundle: ``path`` is POSIX-style and relative to the bundle root."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file that does not match the manifest; ``problem`` is ``missing``, a size or hash note."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(root: str | os.PathLike[str], relative: str) -> FileEntry:
    """Describe ``root/relative`` (size and SHA-256) for the manifest."""
    rel = PurePosixPath(relative).as_posix()
    path = Path(root, rel)
    return FileEntry(rel, path.stat().st_size, sha256_file(path))


def _safe_relative(relative: str) -> bool:
    """True when a manifest path stays inside the bundle (no absolute path, no ``..``)."""
    pure = PurePosixPath(relative)
    return (
        bool(relative)
        and not pure.is_absolute()
        and ".." not in pure.parts
        and "\\" not in relative
    )


def check_files(
    root: str | os.PathLike[str], entries: Iterable[FileEntry], hashes: bool = True
) -> list[FileProblem]:
    """Compare files on disk with their manifest entries; an empty list means all is well.

    ``hashes=False`` checks presence and sizes only (fast), otherwise every SHA-256 is computed.
    """
    problems: list[FileProblem] = []
    for entry in entries:
        if not _safe_relative(entry.path):
            problems.append(FileProblem(entry.path, "path leaves the bundle folder"))
            continue
        path = Path(root, entry.path)
        if not path.is_file():
            problems.append(FileProblem(entry.path, "missing"))
            continue
        size = path.stat().st_size
        if size != entry.size:
            problems.append(
                FileProblem(entry.path, f"size {size} bytes, manifest says {entry.size}")
            )
        elif hashes and sha256_file(path) != entry.sha256:
            problems.append(FileProblem(entry.path, "SHA-256 does not match the manifest"))
    return problems


# ---------------------------------------------------------------------------------------------
# Component settings (what the engines need; written by xner.export, documented in BUNDLE.md)


@dataclass(frozen=True, kw_only=True)
class Source:
    """Where a component came from: checkpoint id (hub id or folder), revision and licence."""

    id: str
    revision: str | None = None
    license: str | None = None
    tokenizer_id: str | None = None
    tokenizer_revision: str | None = None


@dataclass(frozen=True, kw_only=True)
class TranslatorSettings:
    """A CTranslate2 NLLB / M2M100 model and its token convention.

    A source sentence is ``source_prefix + pieces + source_suffix`` where ``{src_lang}`` in the
    prefix/suffix stands for the language code token; decoding uses ``target_prefix`` (with
    ``{tgt_lang}``) and the hypotheses start with it when ``output_includes_prefix``.
    ``max_decoding_length`` of CTranslate2 counts the target prefix token.
    """

    model_dir: str
    sentencepiece: str
    tokenizer: str | None
    family: str
    quantization: str
    languages: tuple[str, ...]
    source_prefix: tuple[str, ...]
    source_suffix: tuple[str, ...]
    target_prefix: tuple[str, ...]
    output_includes_prefix: bool = True
    eos_token: str = "</s>"
    unk_token: str = "<unk>"
    pad_token: str = "<pad>"
    decoder_start_token: str | None = "</s>"
    max_source_positions: int = 1024
    max_target_positions: int = 1024
    decoding_length_counts_prefix: bool = True
    vocabulary_size: int = 0


@dataclass(frozen=True, kw_only=True)
class EncoderSettings:
    """An ONNX encoder and its ``tokenizers`` tokenizer (common to tagger and aligner).

    Encode words with ``Tokenizer.from_file(tokenizer).encode(words, is_pretokenized=True)``:
    the tokenizer's post-processor adds ``cls_token`` / ``sep_token`` when ``add_special_tokens``.
    Feed ``inputs`` (int64, shape ``[batch, sequence]``; ``attention_mask`` is 1 on real tokens,
    padding uses ``pad_id``) and read ``output``. ``max_length`` counts the special tokens.
    """

    model: str
    tokenizer: str
    family: str
    quantization: str
    inputs: tuple[str, ...] = ("input_ids", "attention_mask")
    output: str = "logits"
    input_dtype: str = "int64"
    max_length: int = 512
    pad_id: int = 0
    pad_token: str = "<pad>"
    cls_token: str = "<s>"
    cls_id: int = 0
    sep_token: str = "</s>"
    sep_id: int = 2
    unk_token: str = "<unk>"
    unk_id: int = 3
    add_special_tokens: bool = True
    pretokenized: bool = True
    external_data: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TaggerSettings(EncoderSettings):
    """A token-classification model: ``labels`` in output order, their tag ``scheme``.

    ``scheme`` is ``IOB1``, ``IOB2``, ``BIOES`` or ``IO`` as read from the label set and the
    model's behaviour; ``aggregation`` says which subword carries a word's label (``first``).
    """

    labels: tuple[str, ...]
    scheme: str
    entity_types: tuple[str, ...] = ()
    aggregation: str = "first"


@dataclass(frozen=True, kw_only=True)
class AlignerSettings(EncoderSettings):
    """An encoder cut at ``layer``: ``output`` is that layer's hidden states ``[b, s, hidden]``.

    Special tokens (``cls_id``, ``sep_id``) are excluded from word alignment by the engine.
    """

    layer: int
    hidden_size: int
    num_layers_source: int = 0


S = TypeVar("S")


@dataclass(frozen=True)
class Component(Generic[S]):
    """One component of a bundle with absolute paths resolved from ``root``."""

    name: str
    root: Path
    engine: str
    source: Source
    settings: S
    fidelity: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[FileEntry, ...] = ()

    def path(self, relative: str) -> Path:
        """Absolute path of a bundle-relative path (as stored in ``settings``)."""
        return self.root / relative

    @property
    def size(self) -> int:
        """Total bytes of the component's files."""
        return sum(entry.size for entry in self.files)


_SETTINGS = {"translator": TranslatorSettings, "tagger": TaggerSettings, "aligner": AlignerSettings}
_ENGINES = {"translator": "ctranslate2", "tagger": "onnxruntime", "aligner": "onnxruntime"}


def _build(cls: type, data: Any, root: Path, where: str) -> Any:
    """Make dataclass ``cls`` from a JSON object: unknown keys are ignored, lists become tuples."""
    if not isinstance(data, dict):
        raise BundleError(root, [f"{MANIFEST}: {where} is not an object"])
    values = {}
    missing = []
    for spec in dataclasses.fields(cls):
        if spec.name in data:
            value = data[spec.name]
            values[spec.name] = tuple(value) if isinstance(value, list) else value
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            missing.append(spec.name)
    if missing:
        raise BundleError(root, [f"{MANIFEST}: {where} lacks {', '.join(missing)}"])
    return cls(**values)


# ---------------------------------------------------------------------------------------------
# The bundle


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: manifest metadata and its components (``None`` when absent)."""

    root: Path
    format_version: int
    xner_version: str
    created: str
    components: Mapping[str, Component[Any]]
    warnings: tuple[str, ...] = ()
    manifest: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def translator(self) -> Component[TranslatorSettings] | None:
        return self.components.get("translator")

    @property
    def tagger(self) -> Component[TaggerSettings] | None:
        return self.components.get("tagger")

    @property
    def aligner(self) -> Component[AlignerSettings] | None:
        return self.components.get("aligner")

    @property
    def files(self) -> tuple[FileEntry, ...]:
        """Every file of every component."""
        return tuple(entry for comp in self.components.values() for entry in comp.files)

    def require(self, name: str) -> Component[Any]:
        """The component ``name`` or a BundleError that says how to add it."""
        comp = self.components.get(name)
        if comp is None:
            raise BundleError(
                self.root,
                [f"no {name} in this bundle; add one: xner export --{name} ... --out {self.root}"],
            )
        return comp

    @classmethod
    def load(cls, path: str | os.PathLike[str], verify: bool = True) -> Bundle:
        """Read ``path/manifest.json``; with ``verify`` check every file's size and SHA-256.

        ``verify=False`` checks presence and sizes only (fast start for large bundles).
        Raises :class:`BundleError` naming every bad or missing file.
        """
        root = Path(path)
        manifest = read_manifest(root)
        bundle = cls.from_manifest(root, manifest)
        problems = check_files(root, bundle.files, hashes=verify)
        if problems:
            hint = "" if verify else " (checked sizes only)"
            raise BundleError(root, [str(p) for p in problems] + [f"bundle refused{hint}"])
        return bundle

    @classmethod
    def from_manifest(cls, root: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Bundle:
        """Build the view of a parsed manifest without touching the files."""
        root = Path(root)
        version = manifest.get("format_version")
        if manifest.get("format") != FORMAT or not isinstance(version, int):
            raise BundleError(root, [f"{MANIFEST} is not an xner bundle manifest"])
        if version > FORMAT_VERSION:
            raise BundleError(
                root,
                [
                    f"bundle format {version} is newer than this xner reads ({FORMAT_VERSION}); "
                    "upgrade xner"
                ],
            )
        raw = manifest.get("components", {})
        if not isinstance(raw, dict):
            raise BundleError(root, [f"{MANIFEST}: components is not an object"])
        components: dict[str, Component[Any]] = {}
        for name, data in raw.items():
            if name not in _SETTINGS:
                continue  # a component this version does not know: keep it on disk, ignore it
            where = f"components.{name}"
            if not isinstance(data, dict):
                raise BundleError(root, [f"{MANIFEST}: {where} is not an object"])
            files = tuple(
                _build(FileEntry, item, root, f"{where}.files[{i}]")
                for i, item in enumerate(data.get("files", []))
            )
            components[name] = Component(
                name=name,
                root=root,
                engine=data.get("engine", _ENGINES[name]),
                source=_build(Source, data.get("source", {}), root, f"{where}.source"),
                settings=_build(
                    _SETTINGS[name], data.get("settings", {}), root, f"{where}.settings"
                ),
                fidelity=data.get("fidelity", {}),
                files=files,
            )
        return cls(
            root=root,
            format_version=version,
            xner_version=str(manifest.get("xner_version", "?")),
            created=str(manifest.get("created", "?")),
            components=components,
            warnings=tuple(manifest.get("warnings", [])),
            manifest=manifest,
        )


def read_manifest(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse ``root/manifest.json`` or raise BundleError saying what is wrong."""
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise BundleError(root, ["not a folder (a bundle is a folder made by `xner export`)"])
    if not path.is_file():
        raise BundleError(root, [f"{MANIFEST} is missing: not a bundle"])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(root, [f"{MANIFEST} is not valid JSON ({error})"]) from None
    if not isinstance(data, dict):
        raise BundleError(root, [f"{MANIFEST} is not a JSON object"])
    return data


def verify_bundle(path: str | os.PathLike[str]) -> list[FileProblem]:
    """Check every file of the bundle at ``path``; raises BundleError when it has no manifest."""
    root = Path(path)
    bundle = Bundle.from_manifest(root, read_manifest(root))
    return check_files(root, bundle.files, hashes=True)
