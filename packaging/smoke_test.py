"""Smoke test of a frozen xner, as a field laptop runs it: clean environment, no Python around.

    python packaging/smoke_test.py XNER [--bundle DIR] [--reference XNER] [--work DIR]

XNER is the frozen executable (build/binary/dist/xner/xner, or xner.exe). Each command runs with
an empty environment (``env -i``: only HOME, a fresh folder, and on Windows the few variables
Windows itself needs), in its own working folder:

- ``--version``, ``doctor``, ``languages``;
- ``export`` must fail with the one line "needs the export extra", not a traceback;
- with ``--bundle``: ``bundle verify`` (``verify`` where ``xner bundle`` does not exist yet),
  ``translate-test`` of examples/swahili on the bundle (CoNLL and the --explain JSONL), and
  ``evaluate`` of that output against the gold tags.

With ``--reference`` (the installed package's ``xner``), the same commands run through it too and
every output must be equal byte for byte: standard output, the files written, and standard error
once elapsed times and rates are masked. Exit status 0 when every check passed. Standard library
only, so it runs on Linux, Windows and macOS alike (the release workflow runs it on each).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "swahili" / "swahili.gold.conll"
# Elapsed times and rates in progress and summary lines ("2.4 s, 2.5 sentences/s").
TIMING = re.compile(rb"\d+(?:\.\d+)? ?(?:s|ms|sentences/s|MB/s|it/s)\b")


class SmokeFailure(Exception):
    """A check failed; the message says which and shows the output."""


@dataclass
class Step:
    """One command of the smoke test and what it must produce."""

    name: str
    args: list[str]
    files: list[str] = field(default_factory=list)  # written into the working folder
    inputs: dict[str, bytes] = field(default_factory=dict)  # put there before it runs
    frozen_only: bool = False  # the installed package may differ here (it may have torch)
    exit_code: int = 0
    stdout_has: str = ""
    stderr_has: str = ""


@dataclass
class Outcome:
    returncode: int
    stdout: bytes
    stderr: bytes
    files: dict[str, bytes]


def clean_env(home: Path) -> dict[str, str]:
    """What ``env -i HOME=...`` leaves, plus what Windows cannot start a program without."""
    env = {"HOME": str(home)}
    if sys.platform == "win32":
        system_root = os.environ.get("SYSTEMROOT", r"C:\Windows")
        env.update(
            SYSTEMROOT=system_root,
            WINDIR=system_root,
            PATH=os.path.join(system_root, "System32"),
            USERPROFILE=str(home),
            LOCALAPPDATA=str(home / "AppData" / "Local"),
            APPDATA=str(home / "AppData" / "Roaming"),
            TEMP=str(home / "Temp"),
            TMP=str(home / "Temp"),
        )
        (home / "Temp").mkdir(parents=True, exist_ok=True)
    return env


def run(xner: Path, step: Step, where: Path) -> Outcome:
    """Run one step in a fresh working folder with a fresh HOME."""
    shutil.rmtree(where, ignore_errors=True)
    (where / "home").mkdir(parents=True)
    for name, data in step.inputs.items():
        (where / name).write_bytes(data)
    done = subprocess.run(
        [str(xner), *step.args],
        cwd=where,
        env=clean_env(where / "home"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=600,
    )
    files = {name: (where / name).read_bytes() for name in step.files if (where / name).is_file()}
    return Outcome(done.returncode, done.stdout, done.stderr, files)


def _show(outcome: Outcome) -> str:
    return (
        f"exit {outcome.returncode}\n--- stdout\n{outcome.stdout.decode('utf-8', 'replace')}"
        f"\n--- stderr\n{outcome.stderr.decode('utf-8', 'replace')}"
    )


def check(step: Step, outcome: Outcome) -> None:
    """The step's own expectations (exit code, messages, files, no traceback)."""
    stdout = outcome.stdout.decode("utf-8", "replace")
    stderr = outcome.stderr.decode("utf-8", "replace")
    if outcome.returncode != step.exit_code:
        raise SmokeFailure(f"{step.name}: expected exit {step.exit_code}\n{_show(outcome)}")
    if "Traceback" in stdout + stderr:
        raise SmokeFailure(f"{step.name}: printed a traceback\n{_show(outcome)}")
    if step.stdout_has not in stdout or step.stderr_has not in stderr:
        wanted = step.stdout_has or step.stderr_has
        raise SmokeFailure(f"{step.name}: {wanted!r} not in the output\n{_show(outcome)}")
    if step.exit_code and len(stderr.strip().splitlines()) != 1:
        raise SmokeFailure(f"{step.name}: an error must be one line\n{_show(outcome)}")
    missing = [name for name in step.files if name not in outcome.files]
    if missing:
        raise SmokeFailure(f"{step.name}: did not write {', '.join(missing)}\n{_show(outcome)}")


def compare(step: Step, frozen: Outcome, reference: Outcome) -> None:
    """Frozen and installed outputs must be the same bytes (stderr with timings masked)."""
    pairs = [("exit code", frozen.returncode, reference.returncode)]
    pairs += [("stdout", frozen.stdout, reference.stdout)]
    pairs += [("stderr", TIMING.sub(b"T", frozen.stderr), TIMING.sub(b"T", reference.stderr))]
    pairs += [(name, frozen.files.get(name), reference.files.get(name)) for name in step.files]
    for what, mine, theirs in pairs:
        if mine != theirs:
            raise SmokeFailure(
                f"{step.name}: {what} differs between the binary and the installed package\n"
                f"--- binary\n{mine!r}\n--- installed\n{theirs!r}"
            )


def has_bundle_group(xner: Path, work: Path) -> bool:
    """True when this xner has the ``xner bundle ...`` group (older ones: ``xner verify``)."""
    probe = run(xner, Step("probe", ["bundle", "verify", "--help"]), work / "probe")
    return probe.returncode == 0


def steps(bundle: Path | None, bundle_group: bool) -> list[Step]:
    """The smoke test's commands, in order."""
    found = [
        Step("version", ["--version"], stdout_has="xner "),
        Step("doctor", ["doctor"], stdout_has="onnxruntime providers:"),
        Step("languages", ["languages"], stdout_has="hau_Latn"),
        Step(
            "export",
            ["export", "-o", "out"],
            exit_code=2,
            stderr_has="needs the export extra",
            frozen_only=True,
        ),
    ]
    if bundle is None:
        return found
    verify = ["bundle", "verify"] if bundle_group else ["verify"]
    gold = str(EXAMPLE)
    found += [
        Step("bundle verify", [*verify, str(bundle)], stdout_has="OK"),
        Step(
            "translate-test",
            ["translate-test", "--bundle", str(bundle), "--lang", "swh_Latn", gold]
            + ["-o", "out.conll", "--explain", "explain.jsonl", "--intra-threads", "1"],
            files=["out.conll", "explain.jsonl"],
        ),
    ]
    return found


def smoke_test(
    xner: Path, work: Path, bundle: Path | None = None, reference: Path | None = None
) -> list[str]:
    """Run every step (and compare with ``reference``); returns the names of the passed steps."""
    xner, work = xner.absolute(), work.absolute()
    reference = reference.absolute() if reference else None
    plan = steps(bundle.resolve() if bundle else None, has_bundle_group(xner, work))
    outcomes: dict[str, Outcome] = {}
    for step in plan:
        outcomes[step.name] = run_step(xner, step, work, reference)
    if bundle is not None:  # evaluate reads what translate-test wrote
        predicted = outcomes["translate-test"].files["out.conll"]
        step = Step(
            "evaluate",
            ["evaluate", str(EXAMPLE), "predicted.conll"],
            stdout_has="micro avg",
            inputs={"predicted.conll": predicted},
        )
        outcomes[step.name] = run_step(xner, step, work, reference)
    return list(outcomes)


def run_step(xner: Path, step: Step, work: Path, reference: Path | None) -> Outcome:
    """Run a step with the binary (and the reference), check it; returns the binary's outcome."""
    frozen = run(xner, step, work / "frozen" / step.name.replace(" ", "-"))
    check(step, frozen)
    if reference is not None and not step.frozen_only:
        installed = run(reference, step, work / "installed" / step.name.replace(" ", "-"))
        check(step, installed)
        compare(step, frozen, installed)
    return frozen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("xner", type=Path, help="the frozen executable")
    parser.add_argument("--bundle", type=Path, help="a bundle for verify/translate-test/evaluate")
    parser.add_argument("--reference", type=Path, help="the installed xner to compare with")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="xner-smoke-"))
    try:
        passed = smoke_test(args.xner, work, args.bundle, args.reference)
    except SmokeFailure as failure:
        print(f"smoke test FAILED: {failure}", file=sys.stderr)  # noqa: T201  (a script)
        return 1
    for name in passed:
        same = " (same bytes as the installed package)" if args.reference else ""
        print(f"ok {name}{'' if name == 'export' else same}")  # noqa: T201  (a script)
    return 0


if __name__ == "__main__":
    sys.exit(main())
