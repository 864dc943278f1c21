"""Entry point of the ``xner`` command: imports the command modules, then runs the app."""

from __future__ import annotations

from xner.cli import (
    align_command,  # noqa: F401  (registers align)
    bundle_commands,  # noqa: F401  (registers export, verify, info)
    data_commands,  # noqa: F401  (registers project, evaluate, convert)
    doctor_command,  # noqa: F401  (registers doctor)
    experiment_command,  # noqa: F401  (registers experiment)
    language_commands,  # noqa: F401
    pipeline_commands,  # noqa: F401  (registers translate-test, translate-train)
    tag_command,  # noqa: F401  (registers tag)
    translate_command,  # noqa: F401
)
from xner.cli.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
