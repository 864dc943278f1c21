"""Bundle integrity (issue 10): one schema check of the manifest, listed files only, damage.

- Every manifest value of the wrong type or out of range is a BundleError with a path-qualified
  message (``manifest.json: components.tagger.settings.labels: expected a list of strings``),
  never a TypeError or an engine library's traceback: a sweep over every field of the tiny
  bundle's real manifest, and a hypothesis fuzz of the loader (``XNER_FUZZ_EXAMPLES`` examples
  per target, 300 by default).
- An engine opens only files listed (and hashed) in the manifest: a component that lists no
  files, a model path that names an unlisted file and an unlisted file in a model folder are
  refused at load and by ``xner verify``.
- A model file truncated or replaced after verification is one ``cannot be loaded`` line.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures_models import copy_bundle, tiny_bundle, tiny_models  # noqa: F401
from fuzzing import FUZZ_COUNTS, fuzz_settings, write_fuzz_counts  # noqa: F401
from hypothesis import event, given
from hypothesis import strategies as st
from torchfree import run_cli_torch_free
from typer.testing import CliRunner

from xner.cli.bundle_commands import describe
from xner.cli.main import app
from xner.runtime.bundles.bundle import (
    AlignerSettings,
    Bundle,
    BundleError,
    FileEntry,
    Source,
    TaggerSettings,
    TranslatorSettings,
    file_entry,
    read_manifest,
    verify_bundle,
)
from xner.runtime.errors import XnerError

FUZZ = fuzz_settings(300)
runner = CliRunner()

# --------------------------------------------------------------------------- a hand-made bundle
# Fake file contents: enough for the manifest checks (no engine runs on them).

FILES = {
    "translator/model.bin": b"ct2 weights",
    "translator/config.json": b"{}",
    "translator/shared_vocabulary.json": b"[]",
    "translator/sentencepiece.bpe.model": b"spm",
    "tagger/model.onnx": b"onnx graph",
    "tagger/model.onnx.data": b"onnx weights",
    "tagger/tokenizer.json": b"{}",
    "aligner/model.onnx": b"aligner graph",
    "aligner/tokenizer.json": b"{}",
}
ENCODER = {"tokenizer": "", "family": "bert", "quantization": "int8", "max_length": 64}
SETTINGS = {
    "translator": {
        "model_dir": "translator",
        "sentencepiece": "translator/sentencepiece.bpe.model",
        "tokenizer": None,
        "family": "nllb",
        "quantization": "int8",
        "languages": ["eng_Latn", "hau_Latn"],
        "source_prefix": ["{src_lang}"],
        "source_suffix": ["</s>"],
        "target_prefix": ["{tgt_lang}"],
    },
    "tagger": {
        **ENCODER,
        "model": "tagger/model.onnx",
        "tokenizer": "tagger/tokenizer.json",
        "external_data": ["tagger/model.onnx.data"],
        "labels": ["O", "B-PER", "I-PER"],
        "scheme": "IOB2",
    },
    "aligner": {
        **ENCODER,
        "model": "aligner/model.onnx",
        "tokenizer": "aligner/tokenizer.json",
        "output": "hidden_states",
        "layer": 1,
        "hidden_size": 8,
    },
}


def _manifest(root: Path) -> dict[str, Any]:
    """A valid manifest of the three components over the fake files under ``root``."""
    components = {}
    for name, settings_ in SETTINGS.items():
        files = [dataclasses.asdict(file_entry(root, rel)) for rel in FILES if rel.startswith(name)]
        components[name] = {
            "engine": "ctranslate2" if name == "translator" else "onnxruntime",
            "source": {"id": f"x/{name}", "license": "mit"},
            "settings": copy.deepcopy(settings_),
            "fidelity": {"probe_sentences": 1},
            "files": files,
        }
    return {
        "format": "xner-bundle",
        "format_version": 1,
        "xner_version": "0.1.0",
        "created": "2025-01-01T00:00:00Z",
        "warnings": [],
        "components": components,
    }


@pytest.fixture()
def handmade(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A hand-made bundle folder with every fake file, and its valid manifest."""
    root = tmp_path / "bundle"
    for rel, data in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    manifest = _manifest(root)
    _write(root, manifest)
    return root, manifest


def _write(root: Path, manifest: Any) -> None:
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _problems(root: Path, manifest: Any) -> list[str]:
    """The problems BundleError lists for ``manifest`` (written to ``root``), [] if it loads."""
    _write(root, manifest)
    try:
        Bundle.load(root)
    except BundleError as error:
        return error.problems
    return []


def test_the_handmade_bundle_loads(handmade: tuple[Path, dict[str, Any]]) -> None:
    root, _ = handmade
    bundle = Bundle.load(root)
    assert sorted(bundle.components) == ["aligner", "tagger", "translator"]
    assert bundle.tagger.settings.external_data == ("tagger/model.onnx.data",)


# --------------------------------------------------------------------------- defect 4: types


def test_wrong_types_are_named_with_their_path_in_one_error(
    handmade: tuple[Path, dict[str, Any]],
) -> None:
    root, manifest = handmade
    tagger = manifest["components"]["tagger"]
    tagger["settings"]["labels"] = 5
    tagger["settings"]["inputs"] = None
    tagger["settings"]["max_length"] = True
    manifest["components"]["translator"]["files"][0]["path"] = 5
    manifest["components"]["translator"]["settings"]["languages"] = None
    manifest["components"]["aligner"]["source"]["revision"] = ["abc"]
    manifest["components"]["aligner"]["settings"]["pad_id"] = 1e300
    problems = _problems(root, manifest)
    assert sorted(problem.split(", got")[0] for problem in problems) == [
        "manifest.json: components.aligner.settings.pad_id: expected a non-negative integer",
        "manifest.json: components.aligner.source.revision: expected a string or null",
        "manifest.json: components.tagger.settings.inputs: expected a list of strings",
        "manifest.json: components.tagger.settings.labels: expected a list of strings",
        "manifest.json: components.tagger.settings.max_length: expected a non-negative integer",
        "manifest.json: components.translator.files[0].path: expected a string",
        "manifest.json: components.translator.settings.languages: expected a list of strings",
    ]
    with pytest.raises(BundleError) as raised:
        Bundle.load(root)
    assert "\n" not in str(raised.value)  # one line, every problem in it


def test_top_level_fields_are_checked(handmade: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = handmade
    for key, value, expected in [
        ("warnings", "careful", "manifest.json: warnings: expected a list of strings"),
        ("warnings", ["ok", 3], "manifest.json: warnings: expected a list of strings"),
        ("components", [], "manifest.json: components: expected an object"),
        ("xner_version", 5, "manifest.json: xner_version: expected a string"),
        ("created", None, "manifest.json: created: expected a string"),
        ("format_version", 0, "manifest.json: format_version: expected 1 .. 1"),
    ]:
        problems = _problems(root, {**manifest, key: value})
        assert [p.split(", got")[0] for p in problems] == [expected], (key, value)
    for value in (True, "1", None, 1.0):  # a bool is no version number
        assert _problems(root, {**manifest, "format_version": value}) == [
            "manifest.json is not an xner bundle manifest"
        ]
    broken = copy.deepcopy(manifest)
    broken["components"]["tagger"]["fidelity"] = 5
    broken["components"]["aligner"]["engine"] = "ctranslate2"
    broken["components"]["translator"] = "a translator"
    assert sorted(p.split(", got")[0] for p in _problems(root, broken)) == [
        "manifest.json: components.aligner.engine: expected 'onnxruntime'",
        "manifest.json: components.tagger.fidelity: expected an object",
        "manifest.json: components.translator: expected an object",
    ]


def test_semantic_rules(handmade: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = handmade
    tagger = manifest["components"]["tagger"]
    tagger["settings"]["labels"] = []
    tagger["settings"]["input_dtype"] = "float32"
    tagger["files"][0]["sha256"] = "ABC"
    tagger["files"][1]["size"] = -1
    aligner = manifest["components"]["aligner"]
    aligner["settings"]["max_length"] = 0
    aligner["settings"]["hidden_size"] = 2**63
    problems = sorted(p.split(", got")[0] for p in _problems(root, manifest))
    assert problems == [
        "manifest.json: components.aligner.settings.hidden_size: expected a non-negative integer",
        "manifest.json: components.aligner.settings.max_length: expected an integer >= 1",
        "manifest.json: components.tagger.files[0].sha256: expected 64 lowercase hex digits",
        "manifest.json: components.tagger.files[1].size: expected a non-negative integer",
        "manifest.json: components.tagger.settings.input_dtype: expected one of int64, int32",
        "manifest.json: components.tagger.settings.labels: must not be empty",
    ]


def test_model_paths_must_be_listed_files(handmade: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = handmade
    manifest["components"]["tagger"]["settings"]["model"] = "tagger/other.onnx"
    manifest["components"]["tagger"]["settings"]["external_data"] = ["tagger/weights.bin"]
    manifest["components"]["aligner"]["settings"]["tokenizer"] = "../aligner/tokenizer.json"
    translator = manifest["components"]["translator"]
    translator["files"] = [f for f in translator["files"] if "vocabulary" not in f["path"]]
    (root / "translator" / "shared_vocabulary.json").unlink()
    translator["files"].append(dict(translator["files"][0]))  # the same file listed twice
    assert sorted(_problems(root, manifest)) == [
        'manifest.json: components.aligner.settings.tokenizer: "../aligner/tokenizer.json": '
        "path leaves the bundle folder",
        'manifest.json: components.tagger.settings.external_data: "tagger/weights.bin" is not '
        "one of the component's listed files",
        'manifest.json: components.tagger.settings.model: "tagger/other.onnx" is not one of '
        "the component's listed files",
        "manifest.json: components.translator.files[3].path: translator/model.bin is listed twice",
        "manifest.json: components.translator.settings.model_dir: the CTranslate2 folder "
        "translator does not list a *vocabulary.json or *vocabulary.txt",
    ]


def test_deeply_nested_or_huge_manifests_are_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(BundleError, match="manifest.json is not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(BundleError, match="manifest.json is not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format_version": ' + "1" * 5000 + "}")
    with pytest.raises(BundleError, match="manifest.json is not valid JSON"):
        read_manifest(tmp_path)


# --------------------------------------------------------------------------- defect 5: listing


def test_a_component_that_lists_no_files_is_refused(handmade: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = handmade
    manifest["components"]["tagger"]["files"] = []
    _write(root, manifest)
    message = "manifest.json: components.tagger.files: the tagger lists no files (re-export it)"
    with pytest.raises(BundleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Bundle.load(root)
    with pytest.raises(BundleError, match="lists no files"):
        verify_bundle(root)
    result = runner.invoke(app, ["verify", str(root)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [f"xner: error: {root}: {message}"]
    assert "OK" not in result.stdout


def test_engines_reach_listed_files_only(handmade: tuple[Path, dict[str, Any]]) -> None:
    root, _ = handmade
    tagger = Bundle.load(root).require("tagger")
    assert tagger.path("tagger/model.onnx") == root / "tagger" / "model.onnx"
    assert tagger.path("tagger/./model.onnx") == root / "tagger" / "model.onnx"
    for unlisted in ("tagger/other.onnx", "aligner/model.onnx", "manifest.json", "tagger"):
        with pytest.raises(BundleError, match="not one of the tagger's listed files"):
            tagger.path(unlisted)
    opened = tagger.load("tagger/model.onnx", lambda path: Path(path).read_bytes())
    assert opened == FILES["tagger/model.onnx"]
    translator = Bundle.load(root).require("translator")
    assert translator.load("translator", lambda path: path, folder=True) == str(root / "translator")
    assert translator.path("translator") == root / "translator"  # model_dir, checked as a folder
    with pytest.raises(BundleError, match="lists no files in this folder"):
        translator.folder("tagger")


def test_an_unlisted_file_in_a_model_folder_is_refused(
    handmade: tuple[Path, dict[str, Any]],
) -> None:
    root, manifest = handmade
    bundle = Bundle.load(root)
    (root / "tagger" / "sub").mkdir()
    (root / "tagger" / "sub" / "weights.bin").write_bytes(b"unhashed weights")
    (root / "translator" / "source_vocabulary.json").write_bytes(b"[]")
    expected = ["tagger/sub/weights.bin", "translator/source_vocabulary.json"]
    assert sorted(p.path for p in verify_bundle(root)) == expected
    with pytest.raises(BundleError, match="tagger/sub/weights.bin: not listed in manifest.json"):
        Bundle.load(root, verify=False)
    # files dropped in after the bundle was loaded: refused when the engine opens its model
    with pytest.raises(BundleError, match="translator/source_vocabulary.json: not listed"):
        bundle.require("translator").load("translator", lambda path: path, folder=True)
    with pytest.raises(BundleError, match="tagger/sub/weights.bin: not listed"):
        bundle.require("tagger").load("tagger/model.onnx", lambda path: path)
    result = runner.invoke(app, ["verify", str(root)])
    assert result.exit_code == 1 and "2 bad or missing file(s)" in result.stderr
    (root / "aligner" / "two\nlines.bin").write_bytes(b"")  # named, escaped, on one line
    result = runner.invoke(app, ["verify", str(root)])
    lines = result.stderr.splitlines()
    assert len(lines) == 4 and all(line.startswith("xner: ") for line in lines)
    assert "'aligner/two\\nlines.bin': not listed" in result.stderr


def test_a_file_changed_after_verification_is_refused_at_open(
    handmade: tuple[Path, dict[str, Any]],
) -> None:
    root, _ = handmade
    tagger = Bundle.load(root).require("tagger")
    (root / "tagger" / "tokenizer.json").write_bytes(b"{" * 100)

    def fail(path: str) -> None:
        raise RuntimeError("the library\nsays no")

    with pytest.raises(BundleError) as raised:
        tagger.load("tagger/tokenizer.json", fail)
    assert str(raised.value) == (
        f"{root}: tagger/tokenizer.json: size 100 bytes, manifest says 2; "
        f"run xner bundle verify {root}"
    )
    (root / "tagger" / "tokenizer.json").write_bytes(FILES["tagger/tokenizer.json"])
    with pytest.raises(BundleError) as raised:
        tagger.load("tagger/model.onnx", fail)
    assert str(raised.value) == (
        f"{root}: tagger/model.onnx: cannot be loaded (the library says no); "
        f"run xner bundle verify {root}"
    )


def test_a_newer_format_is_refused_by_the_cli_in_one_line(
    handmade: tuple[Path, dict[str, Any]],
) -> None:
    root, manifest = handmade
    _write(root, {**manifest, "format_version": 2})
    for command in ("verify", "info"):
        result = run_cli_torch_free([command, str(root)])
        assert result.returncode == 1, result.stderr
        assert result.stderr.splitlines() == [
            f"xner: error: {root}: bundle format 2 is newer than this xner reads (1); upgrade xner"
        ]


# --------------------------------------------------------------------------- fuzzing the loader

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["tagger/model.onnx", "translator", "O", "../x", "/abs", "a\x00b", ""])
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a JSON value (the root included)."""
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _nodes(item, (*path, index))
    return out


def _similar(value: Any) -> st.SearchStrategy[Any]:
    """Values of the same JSON kind as ``value``: valid types with odd contents."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(min_value=-3, max_value=2**64)
    if isinstance(value, str):
        return st.text(max_size=12) | st.sampled_from([*FILES, "translator", "tagger", "O", ""])
    if isinstance(value, list) and value and isinstance(value[0], str):
        return st.lists(_similar(value[0]), max_size=4)
    return JSON


@st.composite
def _mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """``base`` with 1-2 nodes replaced (by random JSON or a value of the same kind), deleted
    or given an extra key."""
    manifest = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_nodes(manifest)))
        if not path:
            return draw(JSON)
        parent = manifest
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["similar", "similar", "replace", "delete", "extra"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "extra" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(max_size=8))] = draw(JSON)
        elif action == "similar":
            parent[path[-1]] = draw(_similar(parent[path[-1]]))
        else:
            parent[path[-1]] = draw(JSON)
    return manifest


def _outcome(root: Path, action: Callable[[], Any]) -> Any:
    """``action()``, or None when it raised an XnerError, which must be one line about ``root``."""
    try:
        return action()
    except XnerError as error:
        assert "\n" not in str(error) and str(error).startswith(f"{root}: "), str(error)
        return None


@FUZZ
@given(data=st.data())
def test_fuzz_the_manifest_loader(handmade: tuple[Path, dict[str, Any]], data: Any) -> None:
    """Mutated manifests: Bundle.load, the engines' file access and `info` raise XnerError only."""
    FUZZ_COUNTS["manifest_loader"] += 1
    root, base = handmade
    manifest = data.draw(st.one_of(_mutated(base), _mutated(base), JSON), label="manifest")
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    bundle = _outcome(root, lambda: Bundle.load(root))
    event("refused" if bundle is None else "loaded")
    if bundle is None:
        return
    assert describe(bundle, all_languages=True)[0] == f"bundle {root}"
    for component in bundle.components.values():
        assert component.files and all(isinstance(e.size, int) for e in component.files)
        for spec in dataclasses.fields(component.settings):
            value = getattr(component.settings, spec.name)
            if spec.metadata.get("bundle_path") and isinstance(value, str):
                folder = spec.metadata["bundle_path"] == "ctranslate2"
                load = component.load
                opened = _outcome(root, lambda v=value, f=folder, load=load: load(v, str, folder=f))
                assert opened is None or Path(opened).is_relative_to(root)


@FUZZ
@given(raw=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_fuzz_manifest_bytes(tmp_path: Path, raw: bytes) -> None:
    """Arbitrary bytes as manifest.json: a one-line BundleError, or a bundle of no component
    (there are no files here to list)."""
    FUZZ_COUNTS["manifest_bytes"] += 1
    (tmp_path / "manifest.json").write_bytes(raw)
    bundle = _outcome(tmp_path, lambda: Bundle.load(tmp_path))
    assert bundle is None or not bundle.components


# --------------------------------------------------------------------------- the tiny bundle

WRONG = [5, None, "x", [], {}, True, -1, 1e300, "a" * 100_000, [[["x"]]], ["x", 5]]
DELETE = object()
SCHEMA = {
    "source": Source,
    "files": FileEntry,
    "translator": TranslatorSettings,
    "tagger": TaggerSettings,
    "aligner": AlignerSettings,
}


def _sweep_places(manifest: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Key paths of every top-level, component, source, settings and file-entry field."""
    places: list[tuple[Any, ...]] = [(key,) for key in manifest if key != "format"]
    for name, component in manifest["components"].items():
        places += [("components", name, key) for key in component]
        places += [("components", name, "source", key) for key in component["source"]]
        places += [("components", name, "settings", key) for key in component["settings"]]
        for index, entry in enumerate(component["files"]):
            places += [("components", name, "files", index, key) for key in entry]
    return places


def _engine(name: str) -> Callable[[Bundle], Any]:
    from xner.runtime.engines.aligner import Aligner
    from xner.runtime.engines.tagger import Tagger
    from xner.runtime.engines.translator import Translator

    engines = {"translator": Translator, "tagger": Tagger, "aligner": Aligner}
    return lambda bundle: engines[name](bundle, device="cpu", intra_threads=1)


def _cli_problem(result: Any, schema_ok: bool) -> str | None:
    """What is wrong with a `verify` / `info` run: exit 0, or 1 with `xner:` lines only."""
    lines = result.stderr.splitlines()
    if not isinstance(result.exception, SystemExit | None) or "Traceback" in result.output:
        return f"raised {type(result.exception).__name__}: {result.exception}"
    if result.exit_code not in (0, 1):
        return f"exit {result.exit_code}: {result.stderr[:200]}"
    if result.exit_code == 1 and not all(line.startswith("xner: ") for line in lines):
        return f"stderr not in xner's form: {result.stderr[:200]}"
    if not schema_ok and (result.exit_code != 1 or len(lines) != 1):
        return f"a bad manifest gave exit {result.exit_code} and {len(lines)} lines"
    return None


def _sweep_case(
    root: Path, manifest: dict[str, Any], place: tuple[Any, ...], cli: bool
) -> tuple[list[str], bool]:
    """Load the bundle with ``manifest``, build the engine, run the CLI: (failures, loaded)."""
    _write(root, manifest)
    try:
        Bundle.from_manifest(root, manifest)
        schema_ok = True
    except BundleError:
        schema_ok = False
    except Exception as error:  # noqa: BLE001  (the failure this test looks for)
        return [f"Bundle.from_manifest raised {type(error).__name__}: {error}"], False
    try:
        bundle = Bundle.load(root)
    except BundleError as error:
        bundle = None
        if "\n" in str(error):
            return ["message of several lines"], False
    except Exception as error:  # noqa: BLE001  (the failure this test looks for)
        return [f"Bundle.load raised {type(error).__name__}: {error}"], False
    failures = []
    if bundle is not None:
        try:
            describe(bundle, all_languages=True)  # what `xner info` prints
            if len(place) > 2 and place[1] in bundle.components:
                _engine(place[1])(bundle)
        except XnerError:
            pass
        except Exception as error:  # noqa: BLE001
            failures.append(f"engine raised {type(error).__name__}: {error}")
    for command in ("verify", "info") if cli else ():
        result = runner.invoke(app, [command, str(root)])
        problem = _cli_problem(result, schema_ok)
        if command == "verify" and not problem and (bundle is None) != result.exit_code:
            problem = f"exit {result.exit_code}, but Bundle.load says otherwise"
        if problem:
            failures.append(f"xner {command}: {problem}")
    return failures, bundle is not None


@pytest.mark.slow
def test_sweep_wrong_values_over_every_field_of_the_real_manifest(
    tiny_bundle: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each value in WRONG (and deletion) at each field: loads, or one BundleError line.

    When the bundle still loads, the component's engine is built too: it may refuse with an
    XnerError (a label set without O, an unknown scheme), never with another exception. The CLI
    (`verify`, `info`) exits 0, or 1 with one `xner: error:` line; it runs on two values per
    field (a different two for each field, so every value meets the CLI), the rest in-process.
    """
    import typer.testing

    # typer rebuilds the click command on every invoke (~150 ms); build it once here.
    monkeypatch.setattr(typer.testing, "_get_command", functools.cache(typer.testing._get_command))
    root = copy_bundle(tiny_bundle, tmp_path)
    base = read_manifest(root)
    places = _sweep_places(base)
    assert len(places) > 100  # every field of three components
    for name, cls in SCHEMA.items():  # the real manifest has every field the schema knows
        present = {place[-1] for place in places if name in place}
        assert {spec.name for spec in dataclasses.fields(cls)} <= present, name
    values = [*WRONG, DELETE]
    failures, cases, cli_cases, loaded = [], 0, 0, 0
    for number, place in enumerate(places):
        for index, value in enumerate(values):
            manifest = copy.deepcopy(base)
            parent = manifest
            for key in place[:-1]:
                parent = parent[key]
            if value is DELETE:
                del parent[place[-1]]
            else:
                parent[place[-1]] = value
            cli = (index - number) % len(values) < 2
            cases, cli_cases = cases + 1, cli_cases + cli
            shown = "<deleted>" if value is DELETE else json.dumps(value)[:30]
            label = f"{'.'.join(map(str, place))} = {shown}"
            found, ok = _sweep_case(root, manifest, place, cli)
            failures += [f"{label}: {problem}"[:300] for problem in found]
            loaded += ok
    assert not failures, f"{len(failures)} of {cases} cases:\n" + "\n".join(failures[:40])
    assert 0 < loaded < cases and cli_cases > 2 * len(places) - 1  # both outcomes exercised


@pytest.mark.slow
def test_the_real_cli_refuses_bad_manifests_in_one_line(
    tiny_bundle: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Issue 10's examples through the installed `xner` (no Traceback, exit 1, one line)."""
    root = copy_bundle(tiny_bundle, tmp_path)
    base = read_manifest(root)
    cases = [
        (("tagger", "settings", "labels"), 5, "components.tagger.settings.labels: expected a list"),
        (("translator", "settings", "languages"), None, "settings.languages: expected a list"),
        (("translator", "files", 0, "path"), 5, "translator.files[0].path: expected a string"),
        (("aligner", "settings", "model"), "aligner/missing.onnx", "not one of the component's"),
        (("tagger", "files"), [], "the tagger lists no files"),
    ]
    for place, value, expected in cases:
        manifest = copy.deepcopy(base)
        parent = manifest["components"]
        for key in place[:-1]:
            parent = parent[key]
        parent[place[-1]] = value
        _write(root, manifest)
        for command in (["verify", str(root)], ["info", str(root)]):
            result = run_cli_torch_free(command)
            assert result.returncode == 1, (place, result.stderr)
            assert "Traceback" not in result.stderr
            (line,) = result.stderr.splitlines()
            assert line.startswith(f"xner: error: {root}: manifest.json: ") and expected in line


@pytest.mark.slow
def test_the_tiny_bundle_with_an_empty_file_list_no_longer_verifies(
    tiny_bundle: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Issue 10 defect 5: `files: []` verified as "OK (8 files verified)" and then ran."""
    root = copy_bundle(tiny_bundle, tmp_path)
    manifest = read_manifest(root)
    manifest["components"]["aligner"]["files"] = []
    _write(root, manifest)
    result = run_cli_torch_free(["verify", str(root)])
    assert result.returncode == 1 and "OK" not in result.stdout
    assert result.stderr.splitlines() == [
        f"xner: error: {root}: manifest.json: components.aligner.files: "
        "the aligner lists no files (re-export it)"
    ]
    # Listing the graph but not its weights: the weights are an unlisted file ONNX Runtime reads.
    manifest = read_manifest(tiny_bundle)
    aligner = manifest["components"]["aligner"]
    aligner["files"] = [f for f in aligner["files"] if not f["path"].endswith(".data")]
    aligner["settings"]["external_data"] = []
    _write(root, manifest)
    result = run_cli_torch_free(["verify", str(root)])
    assert result.returncode == 1
    assert "aligner/model.onnx.data: not listed in manifest.json" in result.stderr
    from xner.runtime.engines.aligner import Aligner

    with pytest.raises(BundleError, match="aligner/model.onnx.data: not listed"):
        Aligner(root, device="cpu")


DAMAGED = [
    ("tagger/model.onnx", "truncate", "tagger/model.onnx: size"),
    ("tagger/model.onnx", "garbage", "tagger/model.onnx: cannot be loaded ("),
    ("tagger/model.onnx.data", "truncate", "tagger/model.onnx.data: size"),
    ("tagger/tokenizer.json", "garbage", "tagger/tokenizer.json: cannot be loaded ("),
    ("aligner/model.onnx", "garbage", "aligner/model.onnx: cannot be loaded ("),
    ("aligner/tokenizer.json", "truncate", "aligner/tokenizer.json: size"),
    ("translator/model.bin", "garbage", "translator: cannot be loaded ("),
    ("translator/model.bin", "truncate", "translator/model.bin: size"),
    ("translator/config.json", "garbage", "translator: cannot be loaded ("),
    ("translator/shared_vocabulary.json", "garbage", "translator: cannot be loaded ("),
    ("translator/sentencepiece.bpe.model", "garbage", "translator/sentencepiece.bpe.model: cannot"),
]


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:  # replaced by other bytes of the same size: only the hash or the library can tell
        path.write_bytes(bytes((7 * i + 3) % 256 for i in range(len(data))))


@pytest.mark.slow
@pytest.mark.parametrize(("rel", "how", "expected"), DAMAGED)
def test_a_model_damaged_after_verification_is_one_bundle_error(
    tiny_bundle: Path,  # noqa: F811
    tmp_path: Path,
    rel: str,
    how: str,
    expected: str,
) -> None:
    root = copy_bundle(tiny_bundle, tmp_path)
    bundle = Bundle.load(root)  # verified
    _damage(root / rel, how)
    with pytest.raises(BundleError) as raised:
        _engine(rel.split("/")[0])(bundle)
    message = str(raised.value)
    assert message.startswith(f"{root}: {expected}") and "\n" not in message
    assert message.endswith(f"; run xner bundle verify {root}")


@pytest.mark.slow
def test_the_cli_reports_a_damaged_model_in_one_line(
    tiny_bundle: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`--skip-verify` checks sizes only: a same-size replacement reaches ONNX Runtime."""
    root = copy_bundle(tiny_bundle, tmp_path)
    _damage(root / "tagger" / "model.onnx", "garbage")
    text = tmp_path / "in.txt"
    text.write_text("Angela Merkel visited Paris\n", encoding="utf-8")
    result = run_cli_torch_free(
        ["tag", "-b", str(root), str(text), "-o", str(tmp_path / "out.conll"), "--skip-verify"]
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"xner: error: {root}: tagger/model.onnx: cannot be loaded (")
    assert line.endswith(f"; run xner bundle verify {root}")
    assert not (tmp_path / "out.conll").exists()
    shutil.rmtree(root)
