"""Where bundles live: ``--bundle`` is optional (``XNER_BUNDLE``, the per-user folder,
``./bundles/default``), ``xner bundle list`` shows what is installed, old names still work."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from test_bundle_archive import FILES, make_bundle
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.bundles import store as bundle_store
from xner.runtime.bundles.archive import pack_bundle
from xner.runtime.bundles.store import ENV_VAR, list_bundles, resolve_bundle
from xner.runtime.errors import ConfigError

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty per-user bundle folder, an empty current folder and no XNER_BUNDLE."""
    folder = tmp_path / "user-data" / "bundles"
    monkeypatch.setattr(bundle_store, "user_bundles_dir", lambda: folder)
    monkeypatch.delenv(ENV_VAR, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return folder


def test_user_folder_follows_platformdirs() -> None:
    folder = bundle_store.user_bundles_dir()
    assert folder.name == "bundles" and folder.parent.name == "xner"


def test_resolution_order(data_dir: Path, tmp_path: Path) -> None:
    explicit = make_bundle(tmp_path / "explicit")
    from_env = make_bundle(tmp_path / "env")
    local = make_bundle(Path("bundles") / "default")
    installed = make_bundle(data_dir / "hausa")
    no_env: dict[str, str] = {}
    env = {ENV_VAR: str(from_env)}

    assert resolve_bundle(explicit, environ=env) == explicit
    assert resolve_bundle(None, environ=env) == from_env
    assert resolve_bundle(None, environ=no_env) == installed  # the only one installed
    make_bundle(data_dir / "yoruba")
    with pytest.raises(ConfigError, match=r"2 bundles installed .*\(hausa, yoruba\)"):
        resolve_bundle(None, environ=no_env)
    default = make_bundle(data_dir / "default")
    assert resolve_bundle(None, environ=no_env) == default
    shutil.rmtree(data_dir)
    assert resolve_bundle(None, environ=no_env) == local


def test_installed_names_work_for_the_option_and_the_variable(
    data_dir: Path, tmp_path: Path
) -> None:
    hausa = make_bundle(data_dir / "hausa")
    assert resolve_bundle("hausa", environ={}) == hausa
    assert resolve_bundle(None, environ={ENV_VAR: "hausa"}) == hausa
    with pytest.raises(ConfigError, match=r"'nope' \(XNER_BUNDLE\) not found: looked at nope or "):
        resolve_bundle(None, environ={ENV_VAR: "nope"})


def test_no_bundle_error_names_every_place_on_one_line(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_bundle(None, environ={})
    message = str(caught.value)
    assert "\n" not in message
    for place in ("--bundle (not given)", "XNER_BUNDLE (not set)", str(data_dir)):
        assert place in message
    assert str(Path.cwd() / "bundles" / "default") in message


def test_list_shows_sizes_and_checks(data_dir: Path) -> None:
    good = make_bundle(data_dir / "good")
    bad = make_bundle(Path("bundles") / "bad")
    (data_dir / ".x.1234.partial").mkdir()  # an unpack in progress: not listed
    model = bad / "tagger" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[7] ^= 0x01
    model.write_bytes(bytes(data))

    full = {b.name: b for b in list_bundles()}
    assert sorted(full) == ["bad", "good"]
    assert full["good"].status == "ok" and full["good"].place == "user"
    assert full["good"].files == len(FILES) and full["good"].path == good
    assert full["good"].size == sum(p.stat().st_size for p in good.rglob("*") if p.is_file())
    assert full["bad"].place == "local" and not full["bad"].ok
    assert "tagger/model.onnx: SHA-256" in full["bad"].status
    quick = {b.name: b for b in list_bundles(quick=True)}
    assert quick["bad"].status == "sizes ok" and quick["good"].status == "sizes ok"


def test_cli_list_unpack_installs_and_commands_find_the_bundle(
    data_dir: Path, tmp_path: Path
) -> None:
    empty = runner.invoke(app, ["bundle", "list"])
    assert empty.exit_code == 0 and "no bundles installed" in empty.stderr
    archive = pack_bundle(make_bundle(tmp_path / "src"), tmp_path / "hausa.tar").parts[0]
    installed = runner.invoke(app, ["bundle", "unpack", str(archive)])
    assert installed.exit_code == 0, installed.output
    assert (data_dir / "hausa" / "manifest.json").is_file()
    listed = runner.invoke(app, ["bundle", "list"])
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "PLACE", "FILES", "SIZE", "PATH", "CHECK"]
    assert row.split()[:3] == ["hausa", "user", str(len(FILES))] and row.endswith("  ok")
    model = data_dir / "hausa" / "tagger" / "model.onnx"
    model.write_bytes(model.read_bytes()[:-1] + b"?")
    damaged = runner.invoke(app, ["bundle", "list"])
    assert damaged.exit_code == 1 and "tagger/model.onnx: SHA-256" in damaged.stdout
    assert damaged.stderr == "xner: error: 1 bundle(s) failed the check: hausa\n"
    quick = runner.invoke(app, ["bundle", "list", "--quick"])
    assert quick.exit_code == 0 and quick.stdout.rstrip().endswith("sizes ok")
    model.write_bytes((tmp_path / "src" / "tagger" / "model.onnx").read_bytes())
    verified = runner.invoke(app, ["bundle", "verify"])  # no argument: the installed one
    assert verified.exit_code == 0 and str(data_dir / "hausa") in verified.stdout


def test_a_command_without_bundle_says_where_it_looked(data_dir: Path, tmp_path: Path) -> None:
    text = tmp_path / "in.txt"
    text.write_text("a b\n", encoding="utf-8")
    result = runner.invoke(app, ["tag", str(text), "-o", str(tmp_path / "out.conll")])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("xner: error: no bundle")
    assert "XNER_BUNDLE (not set)" in result.stderr and str(data_dir) in result.stderr
    assert "Traceback" not in result.output


def test_old_names_are_hidden_aliases(data_dir: Path, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    for name in ("verify", "info"):
        old = runner.invoke(app, [name, str(bundle)])
        new = runner.invoke(app, ["bundle", name, str(bundle)])
        assert old.exit_code == new.exit_code == 0 and old.stdout == new.stdout
    top = runner.invoke(app, ["--help"])
    commands = re.findall(r"^[\s│]*([a-z-]+)  ", top.stdout, re.MULTILINE)  # plain or rich help
    assert "bundle" in commands and "verify" not in commands and "info" not in commands
