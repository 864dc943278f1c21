"""Start-up (issue 15 item 5): engines load only when needed, the next ones in background threads,
each built once under its own lock, and a background load's error surfaces at first use."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from fake_engines import Aligner, Tagger, Translator
from fixtures_models import copy_bundle
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.bundles.bundle import COMPONENTS, BundleError, check_files, file_entry
from xner.runtime.engines import engine_set
from xner.runtime.engines.engine_set import Engines
from xner.runtime.pipelines.compose import translate_test

GOLDEN_INPUTS = Path(__file__).parent / "golden" / "inputs"
FAKES = {"translator": Translator, "tagger": Tagger, "aligner": Aligner}


class SlowBuilders:
    """Builders that block until released and record every build and the thread it ran in."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.builds: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def builder(self, name: str):
        def build(bundle, options):
            with self._lock:
                self.builds.append((name, threading.current_thread().name))
            self.entered.set()
            assert self.release.wait(30), "the test never released the build"
            return FAKES[name]()

        return build


def _engines_over_a_bundle() -> Engines:
    """Engines over a stand-in bundle: the fake builders never read it; translate-test's checks
    read the tagger's labels from it."""
    settings = SimpleNamespace(labels=["O", "B-PER", "I-PER", "B-MISC", "I-MISC"])
    engines = Engines()
    engines.bundle = SimpleNamespace(  # type: ignore[assignment]
        require=lambda name: SimpleNamespace(settings=settings),
        tagger=None,
        translator=None,
        build_verified=lambda name, build: build(),
    )
    return engines


def test_preload_builds_in_a_thread_once_even_when_used_while_loading(monkeypatch) -> None:
    slow = SlowBuilders()
    monkeypatch.setattr(engine_set, "BUILDERS", {n: slow.builder(n) for n in FAKES})
    engines = _engines_over_a_bundle()
    assert engines.preload(["tagger"]) == ["tagger"]
    assert engines.preload(["tagger"]) == []  # already loading: not started twice
    assert slow.entered.wait(30)
    got: list[object] = []
    users = [threading.Thread(target=lambda: got.append(engines.tagger)) for _ in range(4)]
    for user in users:
        user.start()
    slow.release.set()
    for user in users:
        user.join(30)
    got.append(engines.tagger)
    assert slow.builds == [("tagger", "xner-load-tagger")]
    assert len(got) == 5 and all(engine is got[0] for engine in got)
    assert isinstance(got[0], Tagger)


def test_concurrent_first_uses_build_once(monkeypatch) -> None:
    slow = SlowBuilders()
    monkeypatch.setattr(engine_set, "BUILDERS", {n: slow.builder(n) for n in FAKES})
    engines = _engines_over_a_bundle()
    got: list[object] = []
    users = [threading.Thread(target=lambda: got.append(engines.aligner)) for _ in range(4)]
    for user in users:
        user.start()
    assert slow.entered.wait(30)
    slow.release.set()
    for user in users:
        user.join(30)
    assert [name for name, _ in slow.builds] == ["aligner"]
    assert len(got) == 4 and all(engine is got[0] for engine in got)


def test_a_background_error_is_raised_at_first_use(monkeypatch) -> None:
    error = BundleError(Path("B"), ["tagger/model.onnx: cannot be loaded (bad); run xner ..."])

    def broken(bundle, options):
        raise error

    monkeypatch.setattr(engine_set, "BUILDERS", {**engine_set.BUILDERS, "tagger": broken})
    engines = _engines_over_a_bundle()
    engines.preload(["tagger"])
    with pytest.raises(BundleError) as raised:
        _ = engines.tagger
    assert raised.value is error


def test_preload_refuses_an_unknown_engine() -> None:
    with pytest.raises(Exception, match="unknown engine 'tokenizer'"):
        _engines_over_a_bundle().preload(["tokenizer"])


def test_translate_test_preloads_the_tagger_and_aligner(monkeypatch) -> None:
    built: list[tuple[str, str]] = []

    def recording(name: str):
        def build(bundle, options):
            built.append((name, threading.current_thread().name))
            return FAKES[name]()

        return build

    monkeypatch.setattr(engine_set, "BUILDERS", {n: recording(n) for n in FAKES})
    engines = _engines_over_a_bundle()
    results = list(translate_test(engines, ["Buhari ya isa Abuja ."], "hau"))
    assert len(results) == 1
    threads = dict(built)
    assert threads["translator"] == threading.current_thread().name
    assert threads["tagger"] == "xner-load-tagger"
    assert threads["aligner"] == "xner-load-aligner"
    assert sorted(threads) == sorted(FAKES) and len(built) == 3


# -- on the tiny bundle ---------------------------------------------------------------------------


def _damaged(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A copy whose tagger graph is garbage of the listed size (passes --skip-verify's check)."""
    bundle = copy_bundle(tiny_bundle, tmp_path)
    graph = bundle / "tagger" / "model.onnx"
    graph.write_bytes(b"\0" * graph.stat().st_size)
    return bundle


@pytest.mark.slow
def test_a_damaged_model_fails_the_same_in_a_background_load(tiny_bundle, tmp_path) -> None:
    bundle = _damaged(tiny_bundle, tmp_path)
    with pytest.raises(BundleError) as direct:
        _ = Engines(bundle, device="cpu", verify=False).tagger
    engines = Engines(bundle, device="cpu", verify=False)
    assert engines.preload(["tagger"]) == ["tagger"]
    with pytest.raises(BundleError) as background:
        _ = engines.tagger
    assert str(background.value) == str(direct.value)
    assert "tagger/model.onnx: cannot be loaded" in str(direct.value)


@pytest.mark.slow
def test_translate_test_with_a_damaged_tagger_is_one_line(tiny_bundle, tmp_path) -> None:
    bundle = _damaged(tiny_bundle, tmp_path)
    args = ["translate-test", "--bundle", str(bundle), "--skip-verify", "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, "--lang", "hau", str(GOLDEN_INPUTS / "hau.txt")])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xner: error:")
    assert "tagger/model.onnx: cannot be loaded" in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "needed"),
    [
        (["translate", "--src-lang", "hau", "--tgt-lang", "eng", "hau.txt"], {"translator"}),
        (["align", "pairs_src.txt", "pairs_tgt.txt"], {"aligner"}),
        (["tag", "hau.txt"], {"tagger"}),
        (
            ["translate-train", "--src-lang", "eng", "--tgt-lang", "hau", "en.conll"],
            {"translator", "aligner"},
        ),
    ],
)
def test_commands_build_only_the_engines_they_need(
    tiny_bundle, tmp_path, monkeypatch, args, needed
) -> None:
    built: list[str] = []
    for name, engine in engine_set.BUILDERS.items():  # every path that builds an engine counts

        def init(self, *a, _name=name, _real=engine.__init__, **k) -> None:
            built.append(_name)
            _real(self, *a, **k)

        monkeypatch.setattr(engine, "__init__", init)
    monkeypatch.chdir(GOLDEN_INPUTS)
    common = ["--bundle", str(tiny_bundle), "--device", "cpu", "-o", str(tmp_path / "out.txt")]
    if args[0] in ("translate-train", "tag"):
        common[-1] = str(tmp_path / "out.conll")
    result = CliRunner().invoke(app, [args[0], *common, *args[1:]])
    assert result.exit_code == 0, result.output
    assert set(built) == needed and len(built) == len(needed)


def test_parallel_verification_reports_every_problem_in_manifest_order(tmp_path) -> None:
    names = [f"f{k}.bin" for k in range(6)]
    for name in names:
        (tmp_path / name).write_bytes(name.encode() * 1000)
    entries = [file_entry(tmp_path, name) for name in names]
    (tmp_path / "f1.bin").write_bytes(b"x" * entries[1].size)  # same size, other bytes
    (tmp_path / "f4.bin").unlink()
    problems = check_files(tmp_path, entries, hashes=True)
    assert [str(p) for p in problems] == [
        "f1.bin: SHA-256 does not match the manifest",
        "f4.bin: missing",
    ]
    assert check_files(tmp_path, entries[:1] + entries[2:4], hashes=True) == []


# -- deferred verification: each component hashed while its engine loads ---------------------------


def _flip_one_byte(path: Path, offset: int = -1) -> None:
    """The same size, other bytes: what only the SHA-256 check finds."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _counting_hashes(monkeypatch) -> list[list[str]]:
    """Record the files of every SHA-256 check made by the bundle code."""
    from xner.runtime.bundles import bundle as bundle_module

    calls: list[list[str]] = []
    real = bundle_module.check_files

    def counting(root, entries, hashes=True):
        entries = list(entries)
        if hashes:
            calls.append(sorted(entry.path for entry in entries))
        return real(root, entries, hashes)

    monkeypatch.setattr(bundle_module, "check_files", counting)
    return calls


@pytest.mark.slow
def test_engines_hash_each_component_once_when_its_engine_is_built(
    tiny_bundle, monkeypatch
) -> None:
    calls = _counting_hashes(monkeypatch)
    engines = Engines(tiny_bundle, device="cpu")
    assert calls == []  # sizes only so far
    assert engines.bundle is not None and engines.bundle.unverified == set(COMPONENTS)
    _ = engines.translator
    translator_files = sorted(e.path for e in engines.bundle.require("translator").files)
    assert calls == [translator_files]
    _ = engines.translator, Engines(engines.bundle, device="cpu").translator
    assert len(calls) == 1  # verified once per loaded bundle
    assert engines.bundle.unverified == {"tagger", "aligner"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damaged", "offset"), [("aligner/model.onnx.data", -1), ("tagger/model.onnx", 40)]
)
def test_a_file_that_does_not_match_refuses_its_engine_only(
    tiny_bundle, tmp_path, damaged, offset
) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path)
    _flip_one_byte(bundle / damaged, offset)
    engines = Engines(bundle, device="cpu")  # sizes match: no refusal yet
    assert engines.translator.translate(["Buhari ya isa Abuja ."], "hau", "eng")[0].text
    name = damaged.split("/")[0]
    with pytest.raises(BundleError) as refused:
        _ = getattr(engines, name)
    # the hash speaks, also where the damaged graph failed to load (tagger/model.onnx)
    assert f"{damaged}: SHA-256 does not match the manifest" in str(refused.value)
    assert "bundle refused" in str(refused.value) and "cannot be loaded" not in str(refused.value)
    with pytest.raises(BundleError):  # and stays refused
        _ = getattr(engines, name)
    preloaded = Engines(bundle, device="cpu")
    assert preloaded.preload([name]) == [name]
    with pytest.raises(BundleError) as background:
        _ = getattr(preloaded, name)
    assert str(background.value) == str(refused.value)


@pytest.mark.slow
def test_translate_test_with_a_changed_aligner_is_one_line_and_writes_nothing(
    tiny_bundle, tmp_path
) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path)
    _flip_one_byte(bundle / "aligner" / "model.onnx.data")
    out = tmp_path / "out.conll"
    args = ["translate-test", "--bundle", str(bundle), "--device", "cpu", "-o", str(out)]
    result = CliRunner().invoke(app, [*args, "--lang", "hau", str(GOLDEN_INPUTS / "hau.txt")])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xner: error:"), lines
    assert "aligner/model.onnx.data: SHA-256 does not match the manifest" in lines[0]
    assert not out.exists()


def test_a_bundle_still_to_be_verified_pickles_with_its_state(tiny_bundle) -> None:
    import pickle

    from xner.runtime.bundles.bundle import Bundle

    bundle = Bundle.load(tiny_bundle, defer_hashes=True)
    bundle.unverified.discard("translator")
    copy = pickle.loads(pickle.dumps(bundle))
    assert copy == bundle and copy.unverified == {"tagger", "aligner"}
    assert copy.build_verified("tagger", lambda: "built") == "built"
    assert copy.unverified == {"aligner"}
