"""Bundles on a USB stick: ``xner bundle pack`` / ``unpack`` round trips, and every unsafe or
damaged archive is refused with one line, leaving nothing behind."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_models import tiny_bundle, tiny_models  # noqa: F401
from handmade import write_bundle
from torchfree import run_cli_torch_free
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.bundles.archive import (
    FAT32_MAX,
    ArchiveError,
    archive_stem,
    pack_bundle,
    parse_size,
    unpack_bundle,
)
from xner.runtime.bundles.bundle import MANIFEST, Bundle, BundleError
from xner.runtime.errors import ConfigError

runner = CliRunner()

FILES = {
    "tagger/model.onnx": os.urandom(50_000),
    "tagger/tokenizer.json": b'{"version": "1.0"}',
    "aligner/model.onnx": os.urandom(30_000),
}


def make_bundle(root: Path, files: dict[str, bytes] = FILES) -> Path:
    """A hand-made bundle (a tagger whose files are random bytes) with a valid manifest."""
    return write_bundle(root, files)


def same_files(a: Path, b: Path) -> bool:
    names = [MANIFEST, *FILES]
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def nothing_left(folder: Path, keep: set[str]) -> list[str]:
    """Names in ``folder`` other than ``keep`` (a failed unpack must leave none)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --------------------------------------------------------------------------- sizes and names


def test_sizes_read_with_binary_units() -> None:
    assert parse_size("3.9G") == int(3.9 * 1024**3) <= FAT32_MAX
    assert parse_size("700M") == 700 * 1024**2
    assert parse_size("4k") == parse_size("4KiB") == parse_size("4KB") == 4096
    for bad in ("3.9T", "abc", "", "100"):
        with pytest.raises(ConfigError):
            parse_size(bad)


def test_archive_stem_drops_part_and_archive_suffixes() -> None:
    assert archive_stem(Path("hausa.tar.zst.001")) == "hausa"
    assert archive_stem(Path("x/hausa.tar")) == "hausa"


# --------------------------------------------------------------------------- round trips


def test_round_trip_manifest_first_and_only_listed_files(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    (bundle / "notes.txt").write_text("not in the manifest", encoding="utf-8")
    seen: list[tuple[int, int]] = []
    result = pack_bundle(bundle, tmp_path / "b.tar", progress=lambda n, t: seen.append((n, t)))
    assert result.parts == (tmp_path / "b.tar",) and result.files == len(FILES)
    payload = sum(len(data) for data in FILES.values())
    assert sum(n for n, _ in seen) == payload and {t for _, t in seen} == {payload}
    with tarfile.open(tmp_path / "b.tar") as tar:
        assert tar.getnames() == [MANIFEST, *FILES]
    seen.clear()
    out = unpack_bundle(
        tmp_path / "b.tar", tmp_path / "out", progress=lambda n, t: seen.append((n, t))
    )
    assert sum(n for n, _ in seen) == payload and {t for _, t in seen} == {payload}
    assert out.root == tmp_path / "out" and out.files == len(FILES)
    assert same_files(bundle, tmp_path / "out")
    assert not (tmp_path / "out" / "notes.txt").exists()
    Bundle.load(tmp_path / "out")  # every SHA-256 checks
    assert nothing_left(tmp_path, {"b", "b.tar", "out"}) == []


def test_split_parts_fit_and_join_to_the_single_archive(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    single = pack_bundle(bundle, tmp_path / "one.tar")
    split = pack_bundle(bundle, tmp_path / "b.tar", split=parse_size("16K"))
    names = [p.name for p in split.parts]
    assert names == [f"b.tar.{i:03d}" for i in range(1, len(names) + 1)] and len(names) > 3
    assert all(p.stat().st_size <= 16 * 1024 for p in split.parts)
    joined = b"".join(p.read_bytes() for p in split.parts)
    assert joined == single.parts[0].read_bytes()
    for given in ("b.tar.001", "b.tar"):  # the first part, or the stem of the parts
        out = tmp_path / f"out-{given}"
        unpack_bundle(tmp_path / given, out)
        assert same_files(bundle, out)


def test_zstd_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("zstandard", reason="the zstd extra is not installed")
    bundle = make_bundle(tmp_path / "b")
    packed = pack_bundle(bundle, tmp_path / "b.tar.zst", split=parse_size("8K"))
    assert packed.parts[0].read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    unpack_bundle(packed.parts[0], tmp_path / "out")
    assert same_files(bundle, tmp_path / "out")


def test_without_zstandard_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = make_bundle(tmp_path / "b")
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard -> ImportError
    with pytest.raises(ConfigError, match=r"xner\[zstd\]"):
        pack_bundle(bundle, tmp_path / "b.tar.zst")
    assert nothing_left(tmp_path, {"b"}) == []


def test_pack_refuses_a_damaged_bundle_an_existing_archive_and_odd_names(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    pack_bundle(bundle, tmp_path / "b.tar")
    with pytest.raises(ConfigError, match="exists"):
        pack_bundle(bundle, tmp_path / "b.tar")
    with pytest.raises(ConfigError, match=r"FILE\.tar or FILE\.tar\.zst"):
        pack_bundle(bundle, tmp_path / "b.zip")
    model = bundle / "tagger" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[100] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="tagger/model.onnx: SHA-256 does not match"):
        pack_bundle(bundle, tmp_path / "bad.tar", split=4096)
    assert nothing_left(tmp_path, {"b", "b.tar"}) == []


def test_force_repack_removes_parts_of_a_longer_older_pack(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    old = pack_bundle(bundle, tmp_path / "b.tar", split=4096)
    new = pack_bundle(bundle, tmp_path / "b.tar", split=parse_size("64K"), force=True)
    assert len(new.parts) < len(old.parts)
    assert sorted(p.name for p in tmp_path.glob("b.tar.*")) == [p.name for p in new.parts]


# --------------------------------------------------------------------------- refused archives


def _good_manifest(tmp_path: Path) -> tuple[bytes, dict[str, bytes]]:
    bundle = make_bundle(tmp_path / "src")
    return (bundle / MANIFEST).read_bytes(), dict(FILES)


def _regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info, None


def _craft(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _members(
    manifest: bytes, files: dict[str, bytes]
) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [_regular(MANIFEST, manifest), *(_regular(k, v) for k, v in files.items())]


Members = list[tuple[tarfile.TarInfo, bytes | None]]


def _with(extra: tuple[tarfile.TarInfo, bytes | None]) -> Callable[[bytes, dict], Members]:
    return lambda manifest, files: [*_members(manifest, files), extra]


def _replace_model(new: tuple[tarfile.TarInfo, bytes | None]) -> Callable[[bytes, dict], Members]:
    def build(manifest: bytes, files: dict[str, bytes]) -> Members:
        kept = {k: v for k, v in files.items() if k != "tagger/model.onnx"}
        return [*_members(manifest, kept), new]

    return build


def _manifest_listing(path: str) -> Callable[[bytes, dict], Members]:
    def build(manifest: bytes, files: dict[str, bytes]) -> Members:
        data = json.loads(manifest)
        data["components"]["tagger"]["files"].append({"path": path, "size": 1, "sha256": "0" * 64})
        return _members(json.dumps(data).encode(), files)

    return build


def _flipped(manifest: bytes, files: dict[str, bytes]) -> Members:
    data = bytearray(files["tagger/model.onnx"])
    data[1234] ^= 0x01
    return _members(manifest, {**files, "tagger/model.onnx": bytes(data)})


REFUSED: dict[str, tuple[Callable[[bytes, dict], Members], str]] = {
    "absolute path": (_with(_regular("/tmp/evil", b"x")), "absolute path"),
    "parent folder (..)": (_with(_regular("../evil", b"x")), "leaves the bundle folder"),
    "parent folder inside a path": (
        _with(_regular("tagger/../../evil", b"x")),
        "leaves the bundle folder",
    ),
    "symbolic link": (
        _replace_model(_special("tagger/model.onnx", tarfile.SYMTYPE, "/etc/passwd")),
        "is a symbolic link",
    ),
    "hard link": (
        _replace_model(_special("tagger/model.onnx", tarfile.LNKTYPE, "tagger/tokenizer.json")),
        "is a hard link",
    ),
    "character device": (_with(_special("dev/null", tarfile.CHRTYPE)), "is a device"),
    "block device": (_with(_special("dev/sda", tarfile.BLKTYPE)), "is a device"),
    "FIFO": (_with(_special("pipe", tarfile.FIFOTYPE)), "is a FIFO"),
    "folder member": (_with(_special("tagger", tarfile.DIRTYPE)), "is a folder"),
    "name not in the manifest": (
        _with(_regular("tagger/extra.bin", b"x")),
        "is not listed in the manifest",
    ),
    "second manifest": (_with(_regular(MANIFEST, b"{}")), "is not listed in the manifest"),
    "duplicate member": (
        lambda m, f: [
            *_members(m, f),
            _regular("tagger/tokenizer.json", f["tagger/tokenizer.json"]),
        ],
        "appears twice",
    ),
    "missing member": (
        lambda m, f: _members(m, {k: v for k, v in f.items() if k != "aligner/model.onnx"}),
        "1 of 3 files missing (first: aligner/model.onnx)",
    ),
    "size differs from the manifest": (
        _replace_model(_regular("tagger/model.onnx", b"short")),
        "is 5 bytes, the manifest says 50000",
    ),
    "SHA-256 differs (flipped byte)": (_flipped, "SHA-256 does not match the manifest"),
    "manifest not first": (
        lambda m, f: list(reversed(_members(m, f))),
        "first member is not manifest.json",
    ),
    "manifest lists an unsafe path": (_manifest_listing("../outside"), "leaves the bundle"),
    "manifest is not JSON": (
        lambda m, f: _members(b"{not json", f),
        "manifest.json is not valid JSON",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unsafe_or_wrong_members_are_refused(tmp_path: Path, case: str) -> None:
    build, message = REFUSED[case]
    manifest, files = _good_manifest(tmp_path)
    archive = _craft(tmp_path / "evil.tar", build(manifest, files))
    target = tmp_path / "stick" / "out"
    with pytest.raises(ArchiveError, match="evil.tar: ") as caught:
        unpack_bundle(archive, target)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "stick").exists()  # not even the parent made for it
    assert nothing_left(tmp_path, {"src", "evil.tar"}) == []
    assert not Path("/tmp/evil").exists() and not (tmp_path / "evil").exists()


def test_truncated_archive_is_one_clear_line(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    data = pack_bundle(bundle, tmp_path / "b.tar").parts[0].read_bytes()
    for cut in (len(data) // 2, 512 + 100, 2048):  # inside a file, inside a header
        (tmp_path / "cut.tar").write_bytes(data[:cut])
        with pytest.raises(ArchiveError, match="truncated") as caught:
            unpack_bundle(tmp_path / "cut.tar", tmp_path / "out")
        assert "\n" not in str(caught.value)
        assert nothing_left(tmp_path, {"b", "b.tar", "cut.tar"}) == []
    (tmp_path / "cut.tar").write_bytes(b"")
    with pytest.raises(ArchiveError, match="truncated or corrupted"):
        unpack_bundle(tmp_path / "cut.tar", tmp_path / "out")


def test_a_missing_part_is_named(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    parts = pack_bundle(bundle, tmp_path / "b.tar", split=8192).parts
    parts[1].unlink()
    with pytest.raises(ArchiveError, match=r"part b\.tar\.002 is missing"):
        unpack_bundle(parts[0], tmp_path / "out")
    parts[-1].unlink()  # now only the last ones are gone: the stream ends early
    for part in parts[2:-1]:
        part.unlink()
    with pytest.raises(ArchiveError, match="is a later part missing"):
        unpack_bundle(parts[0], tmp_path / "out")
    with pytest.raises(ArchiveError, match=r"not the first part: unpack b\.tar\.001"):
        unpack_bundle(tmp_path / "b.tar.003", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_existing_folder_is_replaced_only_with_force(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    archive = pack_bundle(bundle, tmp_path / "b.tar").parts[0]
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ConfigError, match="exists"):
        unpack_bundle(archive, target)
    assert (target / "old.txt").is_file()
    unpack_bundle(archive, target, force=True)
    assert same_files(bundle, target) and not (target / "old.txt").exists()
    assert nothing_left(tmp_path, {"b", "b.tar", "out"}) == []


def test_unpack_without_a_folder_installs_under_the_archive_name(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    archive = pack_bundle(bundle, tmp_path / "hausa.tar", split=8192).parts[0]
    result = unpack_bundle(archive, install_dir=tmp_path / "data")
    assert result.root == tmp_path / "data" / "hausa" and same_files(bundle, result.root)


# --------------------------------------------------------------------------- command line


def test_cli_pack_unpack_and_errors_are_one_line(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    packed = runner.invoke(
        app, ["bundle", "pack", str(bundle), "-o", str(tmp_path / "b.tar"), "--split", "16K"]
    )
    assert packed.exit_code == 0, packed.output
    assert packed.stdout.splitlines()[0] == str(tmp_path / "b.tar.001")
    assert packed.stderr.startswith("packed ") and packed.stderr.count("\n") == 1  # no bar
    out = tmp_path / "out"
    unpacked = runner.invoke(app, ["bundle", "unpack", str(tmp_path / "b.tar.001"), "-o", str(out)])
    assert unpacked.exit_code == 0, unpacked.output
    assert unpacked.stdout.strip() == f"{out}: OK ({len(FILES)} files verified)"
    again = runner.invoke(app, ["bundle", "unpack", str(tmp_path / "b.tar.001"), "-o", str(out)])
    assert again.exit_code == 2 and again.stderr.count("\n") == 1 and "--force" in again.stderr
    (tmp_path / "b.tar.002").unlink()
    broken = runner.invoke(app, ["bundle", "unpack", str(tmp_path / "b.tar.001"), "-o", "x"])
    assert broken.exit_code == 1 and broken.stderr.count("\n") == 1
    assert broken.stderr.startswith("xner: error: ") and "b.tar.002 is missing" in broken.stderr
    assert "Traceback" not in broken.output


@pytest.mark.slow
def test_tiny_bundle_round_trip_through_a_split_archive_torch_free(
    tiny_bundle: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    archive = tmp_path / "stick" / "tiny.tar"
    packed = run_cli_torch_free(
        ["bundle", "pack", str(tiny_bundle), "-o", str(archive), "--split", "256K"]
    )
    assert packed.returncode == 0, packed.stderr
    parts = sorted(archive.parent.iterdir())
    assert len(parts) > 2 and all(p.stat().st_size <= 256 * 1024 for p in parts)
    out = tmp_path / "field" / "tiny"
    unpacked = run_cli_torch_free(["bundle", "unpack", str(parts[0]), "-o", str(out)])
    assert unpacked.returncode == 0, unpacked.stderr
    verified = run_cli_torch_free(["bundle", "verify", str(out)])
    assert verified.returncode == 0 and "OK (12 files verified)" in verified.stdout
    original = Bundle.load(tiny_bundle)
    for entry in original.files:
        assert (out / entry.path).read_bytes() == (tiny_bundle / entry.path).read_bytes()
