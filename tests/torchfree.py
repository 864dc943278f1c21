"""Run code in a subprocess where torch, transformers and optimum cannot be imported.

The prelude installs an import blocker (any import of a forbidden package raises ImportError and
is recorded, so that even a guarded ``try: import torch`` counts) and an audit hook that records
socket activity. At exit the child checks that no forbidden module was imported or attempted and
that no network socket was created; on a violation it exits with code 97 and says
why on stderr. Tests use :func:`run_torch_free` to prove that the runtime half stays torch-free
and offline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

FORBIDDEN = ("torch", "transformers", "optimum")
VIOLATION_EXIT = 97

PRELUDE = textwrap.dedent(
    """
    import atexit, importlib.abc, os, sys
    _FORBIDDEN = {forbidden!r}
    _SOCKETS = []
    _ATTEMPTS = []

    class _Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in _FORBIDDEN:
                _ATTEMPTS.append(name)
                raise ImportError("xner test: importing " + name + " is forbidden here")
            return None

    sys.meta_path.insert(0, _Blocker())

    def _audit(event, args):
        if event in ("socket.__new__", "socket.connect", "socket.getaddrinfo", "socket.bind"):
            family = args[1] if event == "socket.__new__" and len(args) > 1 else None
            if family == 1:  # AF_UNIX: local IPC (e.g. multiprocessing), not a network connection
                return
            _SOCKETS.append((event, repr(args)[:200]))

    sys.addaudithook(_audit)

    def _check():
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in _FORBIDDEN)
        if leaked or _ATTEMPTS or _SOCKETS:
            sys.stderr.write(
                "TORCHFREE VIOLATION modules=%r attempted=%r sockets=%r\\n"
                % (leaked, _ATTEMPTS, _SOCKETS)
            )
            sys.stderr.flush()
            os._exit({code})

    atexit.register(_check)
    """
).format(forbidden=FORBIDDEN, code=VIOLATION_EXIT)


def run_torch_free(
    code: str, *, cwd: str | Path | None = None, stdin: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (Python source) in a fresh interpreter with the torch-free prelude."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONNOUSERSITE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + "\n" + textwrap.dedent(code)],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def run_cli_torch_free(
    args: list[str],
    *,
    cwd: str | Path | None = None,
    stdin: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``xner ARGS`` in-process of a torch-free child interpreter (exit code passed through)."""
    code = f"""
    import sys
    sys.argv = ["xner", *{list(args)!r}]
    from xner.cli.main import main
    try:
        main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        sys.stdout.flush(); sys.stderr.flush()
        raise SystemExit(code)
    """
    return run_torch_free(code, cwd=cwd, stdin=stdin, timeout=timeout)
