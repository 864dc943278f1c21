"""Load and verify a bundle: ``manifest.json`` plus the size and SHA-256 of every file.

A bundle is a folder made by ``xner export`` (layout and schema: docs/BUNDLE.md). This module is
the one place that hashes and checks bundle files; the export side reuses :func:`file_entry`.
It is torch-free (json, hashlib, dataclasses only) and opens no network connection.

The manifest is checked against one schema when it is read: the dataclasses below *are* the
schema, read by the generic validator of :mod:`xner.runtime.bundles.schema` (types from the
annotations,
extra rules from each field's ``metadata``: ``min``, ``non_empty``, ``choices``, and
``bundle_path``: a path the engine opens, which must be one of the component's listed files).
Adding a field to a settings class needs no new check code.

Engines open bundle files only through :meth:`Component.load` (or :meth:`Component.path` /
:meth:`Component.folder`): a path that is not among the component's listed files, a folder the
engine reads that holds an unlisted file, a file whose size changed since verification and a
file the engine library cannot read are all a :class:`BundleError`.

Verification can be *deferred* (``Bundle.load(path, defer_hashes=True)``, what
:class:`~xner.runtime.engines.engine_set.Engines` does): sizes and unlisted files are checked at
once, and each component's SHA-256 sums while its engine loads (:meth:`Bundle.build_verified`),
so that a command hashes only the components it uses and the hashing overlaps the load instead
of preceding it. A file that does not match still refuses the engine before its first use.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Generic, TypeVar

from xner.runtime.bundles.schema import BAD, build, shown
from xner.runtime.errors import XnerError
from xner.runtime.files.io import JsonError, load_json

FORMAT = "xner-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
COMPONENT_ENGINES = {"translator": "ctranslate2", "tagger": "onnxruntime", "aligner": "onnxruntime"}
"""The components a bundle may hold, in manifest order, and the library each one runs on."""
COMPONENTS = tuple(COMPONENT_ENGINES)
MAX_MANIFEST_BYTES = 64 << 20  # real manifests are ~10 KB; refuse to parse a huge file
_CHUNK = 1 << 20
_MAX_PROBLEMS = 20  # a BundleError lists at most this many problems, then a count


class BundleError(XnerError):
    """A bundle that cannot be used: unreadable manifest, missing component or bad files.

    The CLI exits with code 1 on it (as ``xner bundle verify`` does for bad files).
    """

    exit_code = 1

    def __init__(self, root: str | os.PathLike[str], problems: Iterable[str]) -> None:
        self.root = str(root)
        self.problems = list(problems)
        shown = self.problems[:_MAX_PROBLEMS]
        if len(self.problems) > _MAX_PROBLEMS:
            shown.append(f"and {len(self.problems) - _MAX_PROBLEMS} more problems")
        joined = "; ".join(" ".join(problem.splitlines()) for problem in shown)  # one line
        super().__init__(f"{self.root}: {joined}")


# ---------------------------------------------------------------------------------------------
# Files: hashing and verification (the only copy of this code)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a bundle: ``path`` is POSIX-style and relative to the bundle root."""

    path: str
    size: int
    sha256: str = field(metadata={"pattern": "[0-9a-f]{64}", "means": "64 lowercase hex digits"})


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


def path_problem(relative: str) -> str | None:
    """Why ``relative`` cannot name a file of a bundle, or ``None`` when it can.

    A bundle path is relative, POSIX-style and stays inside the bundle folder: no absolute path
    or drive letter, no ``..``, no backslash, printable, each name at most 255 bytes. The one
    copy of these rules (manifests, engines, archives).
    """
    pure = PurePosixPath(relative)
    if not relative or not relative.isprintable():
        return "empty or unprintable name"
    if pure.is_absolute() or re.match(r"[A-Za-z]:", relative):
        return "absolute path"
    if ".." in pure.parts:
        return "path leaves the bundle folder"
    if "\\" in relative:
        return "backslash in the path (bundle paths use /)"
    if any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in pure.parts):
        return "a name longer than 255 bytes"
    return None


def _normal(relative: str) -> str:
    """The one spelling of a bundle path for comparisons (``a/./b``, ``a//b`` -> ``a/b``)."""
    return PurePosixPath(relative).as_posix()


def check_files(
    root: str | os.PathLike[str], entries: Iterable[FileEntry], hashes: bool = True
) -> list[FileProblem]:
    """Compare files on disk with their manifest entries; an empty list means all is well.

    ``hashes=False`` checks presence and sizes only (fast), otherwise every SHA-256 is computed,
    the files in parallel threads (hashlib releases the GIL: a large bundle verifies in about
    the time of its largest file when there are cores enough).
    """
    entries = list(entries)
    if not hashes or len(entries) < 2:
        return [p for entry in entries if (p := _file_problem(root, entry, hashes)) is not None]
    workers = min(len(entries), os.cpu_count() or 1)
    with ThreadPoolExecutor(workers, thread_name_prefix="xner-verify") as pool:
        found = list(pool.map(lambda entry: _file_problem(root, entry, True), entries))
    return [problem for problem in found if problem is not None]


def _file_problem(
    root: str | os.PathLike[str], entry: FileEntry, hashes: bool
) -> FileProblem | None:
    """What is wrong with one file (:func:`check_files`), or ``None``."""
    if (problem := path_problem(entry.path)) is not None:
        return FileProblem(entry.path, problem)
    path = Path(root, entry.path)
    try:
        if not path.is_file():
            return FileProblem(entry.path, "missing")
        size = path.stat().st_size
        if size != entry.size:
            return FileProblem(entry.path, f"size {size} bytes, manifest says {entry.size}")
        if hashes and sha256_file(path) != entry.sha256:
            return FileProblem(entry.path, "SHA-256 does not match the manifest")
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return FileProblem(entry.path, f"cannot be read ({reason})")
    return None


# ---------------------------------------------------------------------------------------------
# Component settings (what the engines need; written by xner.export, documented in BUNDLE.md)
#
# ``bundle_path`` metadata: ``file`` (a file an engine opens), ``model`` (the ONNX graph: ONNX
# Runtime also reads external data from its folder, which must hold listed files only) or
# ``ctranslate2`` (a CTranslate2 model folder: model.bin, config.json and the vocabulary listed,
# nothing unlisted in it). Such a path must name the component's listed files.

_FILE = {"bundle_path": "file"}
_POSITIVE = {"min": 1}
_NON_EMPTY = {"non_empty": True}


@dataclass(frozen=True, kw_only=True)
class Source:
    """Where a component came from: checkpoint id (hub id or folder), revision and licence."""

    id: str
    revision: str | None = None
    license: str | None = None
    tokenizer_id: str | None = None
    tokenizer_revision: str | None = None


@dataclass(frozen=True, kw_only=True)
class VocabularyRestriction:
    """A smaller output layer for translation into some target languages (the pivots).

    ``file``: CTranslate2's vocabulary map, ``vmap.txt`` in the model folder (CTranslate2 reads
    it from there by that name; one line, ``<TAB>`` then the ``kept`` pieces that every
    translation into ``targets`` may use); ``targets``: the model's codes of those languages;
    ``kept`` of ``total`` pieces. ``token_agreement`` / ``exact_match``: restricted against full
    greedy translations of the export's probe sentences into the targets; ``validated`` when
    ``token_agreement >= min_agreement`` (``None``: no probe to measure on, not validated).
    The translator uses the map only when ``validated``.
    """

    file: str = field(metadata=_FILE)
    targets: tuple[str, ...] = field(metadata=_NON_EMPTY)
    kept: int = field(metadata=_POSITIVE)
    total: int = field(metadata=_POSITIVE)
    token_agreement: float | None = None
    exact_match: float | None = None
    min_agreement: float
    validated: bool


@dataclass(frozen=True, kw_only=True)
class TranslatorSettings:
    """A CTranslate2 NLLB / M2M100 model and its token convention.

    A source sentence is ``source_prefix + pieces + source_suffix`` where ``{src_lang}`` in the
    prefix/suffix stands for the language code token; decoding uses ``target_prefix`` (with
    ``{tgt_lang}``) and the hypotheses start with it when ``output_includes_prefix``.
    ``max_decoding_length`` of CTranslate2 counts the target prefix token.
    """

    model_dir: str = field(metadata={"bundle_path": "ctranslate2"})
    sentencepiece: str = field(metadata=_FILE)
    tokenizer: str | None = field(metadata=_FILE)
    family: str
    quantization: str
    languages: tuple[str, ...] = field(metadata=_NON_EMPTY)
    source_prefix: tuple[str, ...]
    source_suffix: tuple[str, ...]
    target_prefix: tuple[str, ...]
    output_includes_prefix: bool = True
    eos_token: str = "</s>"
    unk_token: str = "<unk>"
    pad_token: str = "<pad>"
    decoder_start_token: str | None = "</s>"
    max_source_positions: int = field(default=1024, metadata=_POSITIVE)
    max_target_positions: int = field(default=1024, metadata=_POSITIVE)
    decoding_length_counts_prefix: bool = True
    vocabulary_size: int = 0
    vocabulary_restriction: VocabularyRestriction | None = None


@dataclass(frozen=True, kw_only=True)
class EncoderSettings:
    """An ONNX encoder and its ``tokenizers`` tokenizer (common to tagger and aligner).

    Encode words with ``Tokenizer.from_file(tokenizer).encode(words, is_pretokenized=True)``:
    the tokenizer's post-processor adds ``cls_token`` / ``sep_token`` when ``add_special_tokens``.
    Feed ``inputs`` (int64, shape ``[batch, sequence]``; ``attention_mask`` is 1 on real tokens,
    padding uses ``pad_id``) and read ``output``. ``max_length`` counts the special tokens.
    """

    model: str = field(metadata={"bundle_path": "model"})
    tokenizer: str = field(metadata=_FILE)
    family: str
    quantization: str
    inputs: tuple[str, ...] = field(default=("input_ids", "attention_mask"), metadata=_NON_EMPTY)
    output: str = "logits"
    input_dtype: str = field(default="int64", metadata={"choices": ("int64", "int32")})
    max_length: int = field(default=512, metadata=_POSITIVE)
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
    external_data: tuple[str, ...] = field(default=(), metadata=_FILE)


@dataclass(frozen=True, kw_only=True)
class TaggerSettings(EncoderSettings):
    """A token-classification model: ``labels`` in output order, their tag ``scheme``.

    ``scheme`` is ``IOB1``, ``IOB2``, ``BIOES`` or ``IO`` as read from the label set and the
    model's behaviour; ``aggregation`` says which subword carries a word's label (``first``).
    ``trained_on``: the languages (NLLB codes) of the model's fine-tuning data, as its recipe
    says; empty when not recorded (unknown).
    """

    labels: tuple[str, ...] = field(metadata=_NON_EMPTY)
    scheme: str
    entity_types: tuple[str, ...] = ()
    aggregation: str = "first"
    trained_on: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AlignerSettings(EncoderSettings):
    """An encoder cut at ``layer``: ``output`` is that layer's hidden states ``[b, s, hidden]``.

    Special tokens (``cls_id``, ``sep_id``) are excluded from word alignment by the engine.
    """

    layer: int
    hidden_size: int = field(metadata=_POSITIVE)
    num_layers_source: int = 0


@dataclass(frozen=True, kw_only=True)
class _ComponentRecord:
    """One entry of ``components`` as stored (settings are checked by the component's class)."""

    engine: str | None = None
    source: Source
    settings: Mapping[str, Any]
    fidelity: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[FileEntry, ...] = ()


@dataclass(frozen=True, kw_only=True)
class _ManifestRecord:
    """The top level of ``manifest.json`` (``format`` and ``format_version`` are read first)."""

    format: str
    format_version: int
    xner_version: str = "?"
    created: str = "?"
    warnings: tuple[str, ...] = ()
    components: Mapping[str, Any] = field(default_factory=dict)


# -- semantic checks of one component ----------------------------------------------------------


def _bundle_paths(settings: Any, within: str = "") -> list[tuple[str, str, str]]:
    """``(field, kind, path)`` for every path in ``settings`` that an engine opens (nested
    settings too: ``vocabulary_restriction.file``)."""
    out = []
    for spec in dataclasses.fields(settings):
        kind = spec.metadata.get("bundle_path")
        value = getattr(settings, spec.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.extend(_bundle_paths(value, f"{within}{spec.name}."))
            continue
        for path in value if isinstance(value, tuple) else (value,):
            if kind and path is not None:
                out.append((within + spec.name, kind, path))
    return out


def _ctranslate2_problems(folder: str, listed: set[str]) -> list[str]:
    """What a CTranslate2 model folder lacks: model.bin, config.json and a vocabulary."""
    inside = {path.rpartition("/")[2] for path in listed if _parent(path) == folder}
    lacking = [name for name in ("model.bin", "config.json") if name not in inside]
    vocabularies = [name for name in inside if re.fullmatch(r"\w*vocabulary\.(json|txt)", name)]
    if not vocabularies:
        lacking.append("a *vocabulary.json or *vocabulary.txt")
    return lacking


def _parent(path: str) -> str:
    return PurePosixPath(path).parent.as_posix()


def _component_problems(name: str, files: tuple[FileEntry, ...], settings: Any) -> list[str]:
    """Paths that leave the bundle, duplicate entries, engine paths that are not listed files."""
    where = f"{MANIFEST}: components.{name}"
    problems = []
    listed: set[str] = set()
    for index, entry in enumerate(files):
        if (problem := path_problem(entry.path)) is not None:
            problems.append(f"{where}.files[{index}].path: {shown(entry.path)}: {problem}")
        elif _normal(entry.path) in listed:
            problems.append(f"{where}.files[{index}].path: {entry.path} is listed twice")
        listed.add(_normal(entry.path))
    for key, kind, path in _bundle_paths(settings):
        here = f"{where}.settings.{key}"
        if (problem := path_problem(path)) is not None:
            problems.append(f"{here}: {shown(path)}: {problem}")
        elif kind == "ctranslate2":
            lacking = _ctranslate2_problems(_normal(path), listed)
            if lacking:
                problems.append(
                    f"{here}: the CTranslate2 folder {path} does not list {', '.join(lacking)}"
                )
        elif _normal(path) not in listed:
            problems.append(f"{here}: {shown(path)} is not one of the component's listed files")
    return problems


# ---------------------------------------------------------------------------------------------
# Components: the only way engines reach bundle files

S = TypeVar("S")
T = TypeVar("T")


@dataclass(frozen=True)
class Component(Generic[S]):
    """One component of a bundle with absolute paths resolved from ``root``.

    Engines open files only through :meth:`load` (or :meth:`path` / :meth:`folder`), which refuse
    any path that is not among ``files``.
    """

    name: str
    root: Path
    engine: str
    source: Source
    settings: S
    fidelity: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[FileEntry, ...] = ()

    @property
    def size(self) -> int:
        """Total bytes of the component's files."""
        return sum(entry.size for entry in self.files)

    def _listed(self) -> dict[str, FileEntry]:
        return {_normal(entry.path): entry for entry in self.files}

    def path(self, relative: str) -> Path:
        """Absolute path of one of the component's listed files (as named in ``settings``).

        A path that is not listed in the manifest is a :class:`BundleError`: an engine never
        opens a file that was not hashed. The CTranslate2 ``model_dir`` is checked as
        :meth:`folder` checks it.
        """
        folders = [p for _, kind, p in _bundle_paths(self.settings) if kind == "ctranslate2"]
        if isinstance(relative, str) and _normal(relative) in map(_normal, folders):
            return self.folder(relative)
        if not isinstance(relative, str) or _normal(relative) not in self._listed():
            raise BundleError(
                self.root,
                [
                    f"{relative}: not one of the {self.name}'s listed files in {MANIFEST}; "
                    "the engines open listed (hashed) files only"
                ],
            )
        return self.root / _normal(relative)

    def folder(self, relative: str) -> Path:
        """Absolute path of a folder an engine reads whole (the CTranslate2 ``model_dir``).

        The folder's files must all be listed and must include what the engine reads (for
        CTranslate2: model.bin, config.json, the vocabulary); otherwise a :class:`BundleError`.
        """
        listed = self._listed()
        rel = _normal(relative) if isinstance(relative, str) else ""
        if not rel or not any(_parent(path) == rel for path in listed):
            raise BundleError(
                self.root, [f"{relative}: the {self.name} lists no files in this folder"]
            )
        lacking = _ctranslate2_problems(rel, set(listed))
        problems = [f"{relative}: does not list {', '.join(lacking)}"] if lacking else []
        problems += [str(p) for p in self.unlisted_files()]
        if problems:
            raise BundleError(self.root, problems)
        return self.root / rel

    def unlisted_files(self) -> list[FileProblem]:
        """Files that lie, unlisted, in a folder the engine reads (the model's folder)."""
        listed = set(self._listed()) | {MANIFEST}
        folders = sorted(
            {
                _normal(path) if kind == "ctranslate2" else _parent(path)
                for _key, kind, path in _bundle_paths(self.settings)
                if kind in ("ctranslate2", "model") and path_problem(path) is None
            }
        )
        problems = []
        for folder in folders:
            base = self.root / folder
            for current, dirs, names in os.walk(base):
                dirs.sort()
                for name in sorted(names):
                    rel = Path(current, name).relative_to(self.root).as_posix()
                    if rel not in listed:
                        problems.append(
                            FileProblem(
                                rel if rel.isprintable() else ascii(rel),
                                f"not listed in {MANIFEST}, but in the folder the {self.name} "
                                f"engine reads ({folder}); remove it or re-export the {self.name}",
                            )
                        )
        return problems

    def load(self, relative: str, opener: Callable[[str], T], *, folder: bool = False) -> T:
        """``opener(absolute path)`` for a listed file (or, with ``folder``, a model folder).

        Before opening: the path must be listed, the component's files must still have their
        listed sizes and the model folders must hold no unlisted file. A failure of the engine
        library (a file truncated or replaced after verification) becomes one line:
        ``BUNDLE: tagger/model.onnx: cannot be loaded (...); run xner bundle verify BUNDLE``.
        """
        target = self.folder(relative) if folder else self.path(relative)
        rel = target.relative_to(self.root).as_posix()
        hint = f"run xner bundle verify {self.root}"
        # sizes of all the component's files (an ONNX graph reads its external data too)
        problems = [str(p) for p in check_files(self.root, self.files, hashes=False)]
        problems += [str(p) for p in self.unlisted_files()]
        if problems:
            raise BundleError(self.root, [*problems, hint])
        try:
            return opener(str(target))
        except XnerError:
            raise
        except Exception as error:  # noqa: BLE001  (any library failure: one line, no traceback)
            text = " ".join(str(error).split()) or type(error).__name__
            text = text if len(text) <= 160 else text[:157] + "..."
            raise BundleError(self.root, [f"{rel}: cannot be loaded ({text}); {hint}"]) from None


_SETTINGS = {"translator": TranslatorSettings, "tagger": TaggerSettings, "aligner": AlignerSettings}


def _component(name: str, data: Any, root: Path, problems: list[str]) -> Component[Any] | None:
    """The component ``name`` of the manifest, or None after recording its problems."""
    where = f"{MANIFEST}: components.{name}"
    found: list[str] = []
    record = build(_ComponentRecord, data, where, found)
    settings = BAD
    if isinstance(data, dict) and "settings" in data:
        settings = build(_SETTINGS[name], data["settings"], f"{where}.settings", found)
    if record is not BAD and not record.files:
        found.append(f"{where}.files: the {name} lists no files (re-export it)")
    if record is not BAD and record.engine not in (None, COMPONENT_ENGINES[name]):
        found.append(
            f"{where}.engine: expected {COMPONENT_ENGINES[name]!r}, got {shown(record.engine)}"
        )
    if record is not BAD and settings is not BAD and not found:
        found += _component_problems(name, record.files, settings)
    if found:
        problems.extend(found)
        return None
    return Component(
        name=name,
        root=root,
        engine=record.engine or COMPONENT_ENGINES[name],
        source=record.source,
        settings=settings,
        fidelity=record.fidelity,
        files=record.files,
    )


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
    unverified: set[str] = field(default_factory=set, repr=False, compare=False)
    """Components whose SHA-256 sums are still to be checked (loaded with ``defer_hashes``):
    :meth:`build_verified` checks them while their engine is built."""
    _verifying: dict[str, threading.Lock] = field(
        default_factory=lambda: {name: threading.Lock() for name in COMPONENTS},
        repr=False,
        compare=False,
    )

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

    def check(self, hashes: bool = True) -> list[FileProblem]:
        """Files that do not match the manifest, and unlisted files in the engines' folders."""
        problems = check_files(self.root, self.files, hashes=hashes)
        for component in self.components.values():
            problems.extend(component.unlisted_files())
        return problems

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], verify: bool = True, *, defer_hashes: bool = False
    ) -> Bundle:
        """Read ``path/manifest.json``; with ``verify`` check every file's size and SHA-256.

        ``verify=False`` checks presence and sizes only (fast start for large bundles).
        ``defer_hashes`` (with ``verify``): sizes now, each component's SHA-256 sums when its
        engine is built through :meth:`build_verified`.
        Raises :class:`BundleError` naming every bad or missing file.
        """
        root = Path(path)
        manifest = read_manifest(root)
        bundle = cls.from_manifest(root, manifest)
        deferred = verify and defer_hashes
        problems = bundle.check(hashes=verify and not deferred)
        if problems:
            hint = "" if verify and not deferred else " (checked sizes only)"
            raise BundleError(root, [str(p) for p in problems] + [f"bundle refused{hint}"])
        if deferred:
            bundle.unverified.update(bundle.components)
        return bundle

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (a distributed runner ships bundles to workers): the locks stay behind."""
        state = dict(self.__dict__)
        state.pop("_verifying", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "_verifying", {name: threading.Lock() for name in COMPONENTS})

    def build_verified(self, name: str, build: Callable[[], T]) -> T:
        """``build()`` (an engine's construction from the component ``name``), with the
        component's SHA-256 sums checked at the same time in a background thread when they are
        still unchecked (:attr:`unverified`). A file that does not match raises
        :class:`BundleError` after the build and instead of the build's own error (a damaged
        file is the cause of a failed load), so no engine is used on unverified files.
        """
        lock = self._verifying.get(name)
        if lock is None:
            return build()
        with lock:
            if name not in self.unverified:
                return build()
            files = self.require(name).files
            with ThreadPoolExecutor(1, thread_name_prefix="xner-verify") as pool:
                hashing = pool.submit(check_files, self.root, files)
                try:
                    built = build()
                except BaseException:
                    self._refuse_if_damaged(hashing.result())
                    raise
                self._refuse_if_damaged(hashing.result())
            self.unverified.discard(name)
            return built

    def _refuse_if_damaged(self, problems: list[FileProblem]) -> None:
        if problems:
            raise BundleError(self.root, [str(p) for p in problems] + ["bundle refused"])

    @classmethod
    def from_manifest(cls, root: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Bundle:
        """Build the view of a parsed manifest without touching the files.

        The manifest is checked against the schema (the dataclasses of this module); every
        problem found is listed in one :class:`BundleError` (``manifest.json: KEY.PATH: ...``).
        """
        root = Path(root)
        if not isinstance(manifest, Mapping):
            raise BundleError(root, [f"{MANIFEST} is not a JSON object"])
        version = manifest.get("format_version")
        if (
            manifest.get("format") != FORMAT
            or not isinstance(version, int)
            or isinstance(version, bool)
        ):
            raise BundleError(root, [f"{MANIFEST} is not an xner bundle manifest"])
        if version > FORMAT_VERSION:
            raise BundleError(
                root,
                [
                    f"bundle format {version} is newer than this xner reads ({FORMAT_VERSION}); "
                    "upgrade xner"
                ],
            )
        problems: list[str] = []
        top = build(_ManifestRecord, dict(manifest), f"{MANIFEST}: ", problems)
        if version < 1:
            problems.append(f"{MANIFEST}: format_version: expected 1 .. {FORMAT_VERSION}")
        components: dict[str, Component[Any]] = {}
        raw = manifest.get("components", {})
        for name, data in raw.items() if isinstance(raw, dict) else ():
            if name not in _SETTINGS:
                continue  # a component this version does not know: keep it on disk, ignore it
            component = _component(name, data, root, problems)
            if component is not None:
                components[name] = component
        if problems or top is BAD:
            raise BundleError(root, problems)
        return cls(
            root=root,
            format_version=version,
            xner_version=top.xner_version,
            created=top.created,
            components=components,
            warnings=top.warnings,
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
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise BundleError(root, [f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES >> 20} MiB"])
        data = load_json(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, JsonError) as error:
        raise BundleError(root, [f"{MANIFEST} is not valid JSON ({error})"]) from None
    except OSError as error:
        raise BundleError(root, [f"{MANIFEST} cannot be read ({error.strerror})"]) from None
    if not isinstance(data, dict):
        raise BundleError(root, [f"{MANIFEST} is not a JSON object"])
    return data


def verify_bundle(path: str | os.PathLike[str]) -> list[FileProblem]:
    """Check every file of the bundle at ``path``; raises BundleError when it has no manifest.

    Also reports unlisted files in the folders the engines read (see :meth:`Bundle.check`).
    """
    root = Path(path)
    bundle = Bundle.from_manifest(root, read_manifest(root))
    return bundle.check(hashes=True)
