"""A bundle as one file for a USB stick: pack into a tar (``manifest.json`` first), unpack safely.

:func:`pack_bundle` streams the manifest and then every file the manifest lists (nothing else)
into ``FILE.tar``, or ``FILE.tar.zst`` when ``zstandard`` is installed (the ``zstd`` extra), and
checks each file's SHA-256 on the way. ``split`` cuts the stream into parts ``FILE.001``,
``FILE.002``, ... of at most that many bytes (FAT32 holds files up to 4 GiB - 1).

:func:`unpack_bundle` reads the manifest from the first member and streams the others into a
temporary sibling of the target folder, checking each against the manifest (name, type, size,
SHA-256); only a complete, verified bundle is renamed into place. Anything else (absolute paths,
``..``, links, devices, names not in the manifest, duplicates, missing members, a truncated or
corrupted stream, a missing part) is refused with one line naming the archive, and nothing is
left behind. Both stream with :mod:`tarfile` (``w|`` / ``r|``): memory stays flat whatever the
bundle's size.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
import secrets
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from xner.runtime.bundles.bundle import (
    MANIFEST,
    Bundle,
    BundleError,
    FileEntry,
    check_files,
    path_problem,
    read_manifest,
)
from xner.runtime.errors import ConfigError, XnerError
from xner.runtime.files.atomic import check_output, keep_mode
from xner.runtime.files.io import JsonError, load_json

logger = logging.getLogger("xner")

SUFFIXES = (".tar", ".tar.zst")
FAT32_MAX = 4 * 1024**3 - 1
"""The largest file a FAT32 stick holds."""
MAX_PARTS = 999
_CHUNK = 1 << 20
_MANIFEST_MAX = 64 << 20
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_PART = re.compile(r"\.(\d{3})$")

Progress = Callable[[int, int], None]
"""Called with the bytes of bundle files just packed or unpacked and their total (the manifest
is not counted)."""


class ArchiveError(XnerError):
    """A bundle archive that cannot be unpacked: ``ARCHIVE: problem``; the CLI exits with 1."""

    exit_code = 1

    def __init__(self, archive: str | os.PathLike[str], problem: str) -> None:
        self.archive = os.fspath(archive)
        self.problem = problem
        super().__init__(f"{self.archive}: {problem}")


@dataclass(frozen=True, slots=True)
class PackResult:
    """What :func:`pack_bundle` wrote: the archive's files (one, or the parts in order), how
    many bundle files it holds (besides the manifest) and the bytes before and after packing."""

    parts: tuple[Path, ...]
    files: int
    bundle_bytes: int
    archive_bytes: int
    seconds: float


@dataclass(frozen=True, slots=True)
class UnpackResult:
    """What :func:`unpack_bundle` installed: the folder, the parts read, the files verified
    (besides the manifest) and the bundle's bytes."""

    root: Path
    parts: tuple[Path, ...]
    files: int
    bundle_bytes: int
    seconds: float


# ---------------------------------------------------------------------------------------------
# Names, sizes, compression


def parse_size(text: str) -> int:
    """``"3.9G"`` -> bytes; units K, M, G (powers of 1024; ``KB``, ``MiB`` read the same)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmg]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not match:
        raise ConfigError(f"size {text!r}: write a number with K, M or G (3.9G, 700M)")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < 1024:
        raise ConfigError(f"size {text!r}: a part must hold at least 1K")
    return size


def part_path(path: Path, index: int) -> Path:
    """``FILE`` -> ``FILE.001`` (index 1)."""
    return path.with_name(f"{path.name}.{index:03d}")


def archive_stem(path: Path) -> str:
    """``hausa.tar.zst.001`` -> ``hausa``."""
    name = _PART.sub("", path.name)
    for suffix in (".zst", ".tar"):
        name = name.removesuffix(suffix)
    return name


def _compressed(path: Path) -> bool:
    """True for ``.tar.zst``, False for ``.tar``; any other name is an error."""
    name = path.name.lower()
    if name.endswith(".tar.zst"):
        return True
    if name.endswith(".tar"):
        return False
    raise ConfigError(f"{path}: name the archive FILE.tar or FILE.tar.zst")


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:
        raise ConfigError(
            ".tar.zst needs zstandard: pip install 'xner[zstd]' (or write a plain .tar)"
        ) from None
    return zstandard


def _unsafe(name: str) -> str | None:
    """Why ``name`` cannot be a member of a bundle archive: a bundle path (:func:`path_problem`)
    written exactly as the manifest writes it (``a/b``, not ``./a//b``)."""
    problem = path_problem(name)
    if problem is None and PurePosixPath(name).as_posix() != name:
        problem = "not a plain relative path"
    return problem


# ---------------------------------------------------------------------------------------------
# Parts: a writer that cuts a stream into files, a reader that joins them


class _PartWriter:
    """A write-only stream into ``target`` or, with ``part_size``, into ``target.001``, ...

    Each file is written under a temporary name; :meth:`commit` renames them all at the end,
    :meth:`abort` removes them: the parts appear together or not at all.
    """

    def __init__(self, target: Path, part_size: int | None) -> None:
        self.target = target
        self.part_size = part_size
        self.written = 0
        self._files: list[tuple[Path, Path]] = []  # (temporary, final)
        self._handle: IO[bytes] | None = None
        self._left = 0

    def _next(self) -> None:
        self._close_current()
        index = len(self._files) + 1
        if self.part_size and index > MAX_PARTS:
            raise ConfigError(f"more than {MAX_PARTS} parts: choose a larger --split")
        final = part_path(self.target, index) if self.part_size else self.target
        temp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
        self._handle = open(temp, "xb")  # noqa: SIM115 - closed in _close_current
        self._files.append((temp, final))
        self._left = self.part_size or 0

    def _close_current(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        while view:
            if self._handle is None or (self.part_size and self._left == 0):
                self._next()
            assert self._handle is not None
            count = min(len(view), self._left) if self.part_size else len(view)
            self._handle.write(view[:count])
            view = view[count:]
            self._left -= count
            self.written += count
        return len(data)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def commit(self) -> tuple[Path, ...]:
        """Rename every part into place (after removing parts left by an older, longer pack)."""
        self._close_current()
        finals = tuple(final for _, final in self._files)
        if self.part_size:
            index = len(finals) + 1
            while part_path(self.target, index).exists():
                part_path(self.target, index).unlink()
                index += 1
        for temp, final in self._files:
            keep_mode(final, temp)
            os.replace(temp, final)
        self._files = []
        return finals

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            if self._handle is not None:
                self._handle.close()
        for temp, _ in self._files:
            with contextlib.suppress(OSError):
                temp.unlink()
        self._files = []


class _PartReader(io.RawIOBase):
    """Read the parts of a split archive one after the other as one stream."""

    def __init__(self, parts: tuple[Path, ...]) -> None:
        super().__init__()
        self.parts = parts
        self._index = 0
        self._handle: io.BufferedReader | None = open(parts[0], "rb")  # noqa: SIM115 - closed in close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._handle is not None:
            count = self._handle.readinto(buffer)
            if count:
                return count
            self._handle.close()
            self._index += 1
            self._handle = (
                open(self.parts[self._index], "rb")  # noqa: SIM115 - closed above or in close()
                if self._index < len(self.parts)
                else None
            )
        return 0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        super().close()


def find_parts(archive: Path) -> tuple[Path, ...]:
    """The files of ``archive``: itself, or ``FILE.001``, ``FILE.002``, ... from the first part.

    ``FILE`` may name the archive or, when only parts exist, their common stem. A gap in the
    numbering (a part lost on the way) is an :class:`ArchiveError`.
    """
    match = _PART.search(archive.name)
    if archive.is_file() and not match:
        return (archive,)
    if match:
        if int(match.group(1)) != 1:
            first = archive.with_name(_PART.sub(".001", archive.name))
            raise ArchiveError(archive, f"not the first part: unpack {first.name}")
        stem = archive.with_name(_PART.sub("", archive.name))
    else:
        stem = archive
    if not part_path(stem, 1).is_file():
        raise ArchiveError(archive, "no such file (nor a first part FILE.001)")
    numbers = sorted(
        int(m.group(1))
        for p in stem.parent.glob(f"{glob_escape(stem.name)}.[0-9][0-9][0-9]")
        if (m := _PART.search(p.name)) and p.is_file()
    )
    expected = list(range(1, len(numbers) + 1))
    if numbers != expected:
        missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
        names = ", ".join(part_path(stem, i).name for i in missing)
        raise ArchiveError(archive, f"part {names} is missing (found {len(numbers)} parts)")
    return tuple(part_path(stem, i) for i in numbers)


def glob_escape(name: str) -> str:
    """``name`` with glob wildcards escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


# ---------------------------------------------------------------------------------------------
# Pack


class _HashingReader:
    """Read a file for tarfile while hashing it and reporting progress."""

    def __init__(self, handle: IO[bytes], progress: Progress | None, total: int) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.progress = progress
        self.total = total

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        if self.progress is not None and data:
            self.progress(len(data), self.total)
        return data


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o644
    info.uname = info.gname = ""
    return info


def pack_bundle(
    bundle: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    split: int | None = None,
    force: bool = False,
    level: int = 3,
    progress: Progress | None = None,
) -> PackResult:
    """Write the bundle at ``bundle`` into the archive ``out`` (``.tar`` or ``.tar.zst``).

    ``manifest.json`` is the first member, then the manifest's files in its order. ``split``
    (bytes) writes parts ``out.001``, ``out.002``, ... instead of ``out``. Every file's SHA-256
    is checked while it streams: a damaged bundle raises :class:`BundleError` and nothing is
    written. An existing archive (or part) is replaced only with ``force``. ``level`` is the
    zstd level.
    """
    started = time.perf_counter()
    root, target = Path(bundle), Path(out)
    manifest_bytes, entries = _bundle_files(root)
    compressed = _compressed(target)
    zstandard = _zstandard() if compressed else None
    existing = [part_path(target, 1)] if split else [target]
    if not force and (found := [p for p in existing if p.exists()]):
        raise ConfigError(f"{found[0]} exists; choose another name or replace it with --force")
    check_output(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    mtime = (root / MANIFEST).stat().st_mtime
    total = sum(e.size for e in entries)
    writer = _PartWriter(target, split)
    try:
        sink: Any = writer
        if zstandard is not None:
            sink = zstandard.ZstdCompressor(level=level, threads=-1).stream_writer(
                writer, closefd=False
            )
        copying: dict[str, Any] = {"copybufsize": _CHUNK}  # TarFile's; tarfile.open's stub lacks it
        with tarfile.open(
            fileobj=sink, mode="w|", bufsize=_CHUNK, format=tarfile.PAX_FORMAT, **copying
        ) as tar:
            tar.addfile(_member(MANIFEST, len(manifest_bytes), mtime), io.BytesIO(manifest_bytes))
            for entry in entries:
                path = root / entry.path
                with open(path, "rb") as handle:
                    reader = _HashingReader(handle, progress, total)
                    info = _member(entry.path, entry.size, os.fstat(handle.fileno()).st_mtime)
                    tar.addfile(info, reader)
                if reader.digest.hexdigest() != entry.sha256:
                    raise BundleError(
                        root, [f"{entry.path}: SHA-256 does not match the manifest", "not packed"]
                    )
        if zstandard is not None:
            sink.close()
        parts = writer.commit()
    except BaseException:
        writer.abort()
        raise
    seconds = time.perf_counter() - started
    return PackResult(
        parts=parts,
        files=len(entries),
        bundle_bytes=len(manifest_bytes) + total,
        archive_bytes=writer.written,
        seconds=seconds,
    )


def _bundle_files(root: Path) -> tuple[bytes, tuple[FileEntry, ...]]:
    """The manifest's bytes and files; refuses a bundle whose files are missing or resized."""
    manifest = read_manifest(root)
    entries = Bundle.from_manifest(root, manifest).files
    problems = [str(p) for p in check_files(root, entries, hashes=False)]
    seen: set[str] = set()
    for entry in entries:
        if entry.path in seen or entry.path == MANIFEST:
            problems.append(f"{entry.path}: listed twice in the manifest")
        seen.add(entry.path)
    if problems:
        raise BundleError(root, [*problems, "not packed"])
    return (root / MANIFEST).read_bytes(), entries


# ---------------------------------------------------------------------------------------------
# Unpack


@contextlib.contextmanager
def _open_stream(parts: tuple[Path, ...]) -> Iterator[IO[bytes]]:
    """The archive's tar stream: the parts joined, decompressed when it starts as zstd."""
    raw = io.BufferedReader(_PartReader(parts), buffer_size=_CHUNK)
    try:
        if raw.peek(4)[:4] == _ZSTD_MAGIC:
            zstandard = _zstandard()
            with zstandard.ZstdDecompressor().stream_reader(
                raw, read_size=_CHUNK, read_across_frames=True, closefd=False
            ) as stream:
                yield stream
        else:
            yield raw
    finally:
        raw.close()


def _stream_errors() -> tuple[type[BaseException], ...]:
    """What a damaged stream raises: tarfile's errors, an early end, zstd's errors."""
    errors: list[type[BaseException]] = [tarfile.TarError, EOFError]
    with contextlib.suppress(ImportError):
        import zstandard

        errors.append(zstandard.ZstdError)
    return tuple(errors)


def unpack_bundle(
    archive: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    install_dir: Path | None = None,
    progress: Progress | None = None,
) -> UnpackResult:
    """Unpack ``archive`` (a file or the first of its parts) into the folder ``out``.

    Without ``out`` the bundle is installed in ``install_dir`` (default: the per-user folder,
    :func:`xner.runtime.bundles.store.user_bundles_dir`) under the manifest's ``name`` or the
    archive's stem. An existing ``out`` is replaced only with ``force``. Raises
    :class:`ArchiveError` for any archive that is not exactly the bundle its manifest describes;
    then nothing is left behind.
    """
    started = time.perf_counter()
    source = Path(archive)
    parts = find_parts(source)
    errors = _stream_errors()
    try:
        with (
            _open_stream(parts) as stream,
            tarfile.open(fileobj=stream, mode="r|", bufsize=_CHUNK) as tar,
        ):
            members = iter(tar)
            manifest_bytes, manifest = _read_manifest(source, tar, next(members, None))
            target = _target(source, out, manifest, install_dir)
            if target.exists() and not force:
                raise ConfigError(f"{target} exists; choose another folder or replace it (--force)")
            expected = _expected(source, _manifest_files(source, target, manifest))
            with _staging(target) as staging:
                (staging / MANIFEST).write_bytes(manifest_bytes)
                done = _extract(source, tar, members, expected, staging, progress)
                missing = [name for name in expected if name not in done]
                if missing:
                    raise ArchiveError(
                        source,
                        f"{len(missing)} of {len(expected)} files missing (first: {missing[0]}): "
                        f"truncated archive{_part_hint(parts)}",
                    )
                _install(staging, target)
    except errors as error:
        raise ArchiveError(
            source, f"truncated or corrupted archive ({error}){_part_hint(parts)}"
        ) from None
    return UnpackResult(
        root=target,
        parts=parts,
        files=len(expected),
        bundle_bytes=len(manifest_bytes) + sum(e.size for e in expected.values()),
        seconds=time.perf_counter() - started,
    )


def _part_hint(parts: tuple[Path, ...]) -> str:
    if len(parts) == 1 and not _PART.search(parts[0].name):
        return ""
    return f"; read {len(parts)} part(s) up to {parts[-1].name}: is a later part missing?"


def _read_manifest(
    source: Path, tar: tarfile.TarFile, first: tarfile.TarInfo | None
) -> tuple[bytes, dict[str, Any]]:
    if first is None or first.name != MANIFEST or not first.isreg():
        raise ArchiveError(source, f"the first member is not {MANIFEST}: not a bundle archive")
    if first.size > _MANIFEST_MAX:
        raise ArchiveError(source, f"{MANIFEST} is {first.size} bytes: not a bundle manifest")
    handle = tar.extractfile(first)
    assert handle is not None
    data = handle.read()
    try:
        manifest = load_json(data)
    except JsonError as error:
        raise ArchiveError(source, f"{MANIFEST} is not valid JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise ArchiveError(source, f"{MANIFEST} is not a JSON object")
    return data, manifest


def _target(
    source: Path, out: str | os.PathLike[str] | None, manifest: dict[str, Any], base: Path | None
) -> Path:
    if out is not None:
        return Path(out)
    from xner.runtime.bundles.store import user_bundles_dir

    name = manifest.get("name")
    if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)):
        name = archive_stem(source)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConfigError(f"{source}: cannot name the bundle after {name!r}; give -o DIR")
    return (base or user_bundles_dir()) / name


def _manifest_files(source: Path, target: Path, manifest: dict[str, Any]) -> tuple[FileEntry, ...]:
    """The files the archive's manifest lists; a manifest the runtime refuses is the archive's
    problem."""
    try:
        return Bundle.from_manifest(target, manifest).files
    except BundleError as error:
        raise ArchiveError(source, "; ".join(error.problems)) from None


def _expected(source: Path, entries: tuple[FileEntry, ...]) -> dict[str, FileEntry]:
    expected: dict[str, FileEntry] = {}
    for entry in entries:
        why = _unsafe(entry.path)
        if why is not None:
            raise ArchiveError(source, f"{MANIFEST} lists {entry.path!r}: {why}")
        if entry.path in expected or entry.path == MANIFEST:
            raise ArchiveError(source, f"{MANIFEST} lists {entry.path!r} twice")
        expected[entry.path] = entry
    return expected


def _refusal(member: tarfile.TarInfo) -> str | None:
    """Why a member's type is refused (only regular files are bundle files)."""
    if member.issym():
        return f"is a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"is a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "is a device"
    if member.isfifo():
        return "is a FIFO"
    if member.isdir():
        return "is a folder"
    if not member.isreg():
        return "is not a regular file"
    return _unsafe(member.name)


def _extract(
    source: Path,
    tar: tarfile.TarFile,
    members: Iterator[tarfile.TarInfo],
    expected: dict[str, FileEntry],
    staging: Path,
    progress: Progress | None,
) -> set[str]:
    """Stream the remaining members into ``staging``, each checked; the names done."""
    done: set[str] = set()
    total = sum(entry.size for entry in expected.values())
    for member in members:
        name = member.name
        problem = _refusal(member)
        if problem is None and name not in expected:
            problem = "is not listed in the manifest"
        if problem is None and name in done:
            problem = "appears twice"
        entry = expected.get(name)
        if problem is None and entry is not None and member.size != entry.size:
            problem = f"is {member.size} bytes, the manifest says {entry.size}"
        if problem is not None:
            raise ArchiveError(source, f"member {name!r} {problem}; nothing unpacked")
        assert entry is not None
        path = staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tar.extractfile(member)
        assert handle is not None
        digest = hashlib.sha256()
        with open(path, "xb") as out:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk), total)
        if digest.hexdigest() != entry.sha256:
            raise ArchiveError(
                source, f"member {name!r}: SHA-256 does not match the manifest (corrupted archive)"
            )
        done.add(name)
    return done


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A fresh hidden sibling of ``target``; removed (with any folders made for it) on error."""
    parent = target.absolute().parent
    made = []
    folder = parent
    while not folder.exists():
        made.append(folder)
        folder = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = parent / f".{target.name}.{secrets.token_hex(4)}.partial"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in made:  # innermost first; only folders left empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _install(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``, replacing what is there (checked by the caller)."""
    if not target.exists() and not target.is_symlink():
        os.replace(staging, target)
        return
    old = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old, target)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()
    logger.info("replaced %s", target)
