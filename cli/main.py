"""Entry point of the ``xner`` command: imports the command modules, then runs the app."""

from __future__ import annotations

import codecs
import sys
from typing import TextIO

from xner.cli import (
    align_command,  # noqa: F401  (registers align)
    bundle_commands,  # noqa: F401  (registers verify, info)
    data_commands,  # noqa: F401  (registers project, evaluate, convert)
    doctor_command,  # noqa: F401  (registers doctor)
    experiment_command,  # noqa: F401  (registers experiment)
    export_command,  # noqa: F401  (registers export)
    language_commands,  # noqa: F401
    pipeline_commands,  # noqa: F401  (registers translate-test, translate-train)
    tag_command,  # noqa: F401  (registers tag)
    train_command,  # noqa: F401  (registers train)
    translate_command,  # noqa: F401
)
from xner.cli.app import app


def _is_utf8(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "ascii").name == "utf-8"
    except LookupError:
        return False


def configure_stream(stream: TextIO | None) -> None:
    """Make ``stream`` (standard output or error) safe for any text xner prints.

    A pipe or a file gets UTF-8, the encoding of every file xner writes, whatever the locale or
    ``PYTHONIOENCODING`` say (a Windows pipe defaults to cp1252, which cannot hold ``ƙ``). A
    terminal keeps its encoding, and characters it cannot show (``Ọ`` on a cp1252 console) are
    written as ``\\u1ecc`` escapes instead of failing.
    """
    reconfigure = getattr(stream, "reconfigure", None)
    if stream is None or reconfigure is None:
        return
    try:
        terminal = stream.isatty()
    except (ValueError, OSError):
        return
    try:
        if terminal:
            reconfigure(errors="backslashreplace")
        elif not _is_utf8(getattr(stream, "encoding", None)):
            reconfigure(encoding="utf-8")
    except (ValueError, OSError, LookupError):  # closed, or already written to with an encoding
        pass


def main() -> None:
    configure_stream(sys.stdout)
    configure_stream(sys.stderr)
    app()


if __name__ == "__main__":
    main()
