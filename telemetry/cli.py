"""The `telemetry` command: doctor, send-test, fakes serve, certify.

Readable aligned text in a terminal, `--json` for machines, and exit codes CI can use:

- 0: fine (doctor: at least one provider enabled, nothing wrong; send-test: every enabled
  provider's backend accepted the event; certify: the provider is certified);
- 1: a problem (a broken provider or settings file, an unhealthy client_id database, a failed
  `--check` round trip, a backend that refused the test event, a failed contract check);
- 2: a usage error (bad arguments, an unknown provider for certify);
- 3: nothing is wrong but nothing would be sent (opted out, analytics off, no provider configured).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ._version import installed_version
from .doctor import (
    EXIT_OFF,
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    Diagnosis,
    SendTestReport,
    diagnose,
    send_test,
)

__all__ = ["build_parser", "main", "render_certification", "render_diagnosis", "render_send_test"]

EXIT_CODES = """exit codes:
  0  fine (doctor: a provider is enabled and nothing is wrong; send-test: every backend accepted;
     certify: certified)
  1  a problem: broken provider or settings file, unhealthy client_id database, failed --check,
     a backend refused the test event, a failed contract check
  2  usage error
  3  nothing wrong, but nothing would be sent (opted out, analytics off, nothing configured)"""

CERTIFY_TIMEOUT = 600.0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `telemetry` command."""
    parser = argparse.ArgumentParser(
        prog="telemetry",
        description="Diagnose, test and certify telemetry providers.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"telemetry-toolkit {installed_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def settings_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.add_argument(
            "--config",
            metavar="PATH",
            help="settings file (default: TELEMETRY_CONFIG, else telemetry.toml, pyproject.toml "
            "[tool.telemetry] or config.cfg [ANALYTICS] in the working directory)",
        )
        sub.add_argument(
            "--dotenv", metavar="PATH", help="also read this .env file (never read unless named)"
        )
        sub.add_argument("--db", metavar="PATH", help="the client_id SQLite database")
        sub.add_argument("--timeout", type=float, default=5.0, metavar="S", help="per request (default 5)")

    doctor = commands.add_parser(
        "doctor",
        help="which providers would send, and exactly why not",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    settings_options(doctor)
    doctor.add_argument(
        "--check", action="store_true", help="one validation round trip per enabled provider (never recorded)"
    )
    send = commands.add_parser(
        "send-test",
        help="send one test event to each enabled provider and show each answer",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    settings_options(send)
    commands.add_parser("fakes", help="fake vendor servers: `telemetry fakes serve` (as python -m fakes)")
    certify = commands.add_parser(
        "certify",
        help="run the contract suite against one provider and print the conformance table",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    certify.add_argument(
        "provider", metavar="MODULE:ATTR", help="its ProviderSpec, or a registered provider name"
    )
    certify.add_argument("--json", action="store_true", help="print the JSON report")
    certify.add_argument("--report", metavar="PATH", help="also keep the JSON report (and .md) at PATH")
    certify.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command in `argv` (default: sys.argv[1:]); returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    stream = out or sys.stdout
    if args_list[:1] == ["fakes"]:
        from fakes.cli import main as fakes_main

        return fakes_main(args_list[1:], prog="telemetry fakes")
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.command == "doctor":
        diagnosis = diagnose(
            settings_file=args.config,
            dotenv=args.dotenv,
            db_path=args.db,
            check=args.check,
            timeout=args.timeout,
        )
        _emit(stream, diagnosis.as_dict() if args.json else render_diagnosis(diagnosis), args.json)
        return diagnosis.exit_code
    if args.command == "send-test":
        report = send_test(
            settings_file=args.config, dotenv=args.dotenv, db_path=args.db, timeout=args.timeout
        )
        _emit(stream, report.as_dict() if args.json else render_send_test(report), args.json)
        return report.exit_code
    if args.command == "certify":
        return certify(args.provider, report=args.report, as_json=args.json, verbose=args.verbose, out=stream)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _emit(stream: TextIO, content: Any, as_json: bool) -> None:
    stream.write(json.dumps(content, indent=2) + "\n" if as_json else content)
    stream.flush()


# -- rendering -------------------------------------------------------------------------------------------


def _rows(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows of cells as aligned text (the last column is not padded)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(len(r) for r in rows))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def render_diagnosis(diagnosis: Diagnosis) -> str:
    """`telemetry doctor` as aligned text."""
    lines = [f"telemetry doctor (telemetry-toolkit {diagnosis.version})", "", "Settings"]
    file = (
        f"{diagnosis.settings_file} ({diagnosis.settings_file_source})"
        if diagnosis.settings_file
        else "none (--config PATH, TELEMETRY_CONFIG, or telemetry.toml here)"
    )
    opt_out = diagnosis.opt_out or "none (DO_NOT_TRACK and TELEMETRY_DISABLED are not set)"
    lines += _rows(
        [
            ["settings file", file],
            [".env file", diagnosis.dotenv or "not read (only with --dotenv PATH)"],
            ["analytics", f"{'on' if diagnosis.analytics_enabled else 'OFF'} ({diagnosis.analytics_source})"],
            ["opt-out", opt_out],
        ]
    )
    db = diagnosis.database
    lines += ["", "client_id"]
    lines += _rows(
        [
            ["database", f"{db.path} ({db.source})" if db.path else "not configured"],
            ["state", f"{db.state}: {db.detail}"],
        ]
    )
    lines += ["", "Providers"]
    name_width = max([len(p.name) for p in diagnosis.providers] + [4])
    status_width = max([len(p.status) for p in diagnosis.providers] + [6])
    pad = " " * (2 + name_width + 2 + status_width + 2)
    for provider in diagnosis.providers:
        details = list(provider.reasons or provider.endpoints)
        head = f"  {provider.name.ljust(name_width)}  {provider.status.ljust(status_width)}  "
        lines.append((head + (details[0] if details else "")).rstrip())
        lines += [pad + detail for detail in details[1:]]
        settings = [[s.name, s.value, s.source] for s in provider.settings]
        lines += [pad + line.strip() for line in _rows(settings, indent="")]
        if provider.check is not None:
            verdict = {True: "ok", False: "FAILED", None: "-"}[provider.check.ok]
            status = f" (HTTP {provider.check.status})" if provider.check.status is not None else ""
            lines.append(f"{pad}check: {verdict}{status}: {provider.check.detail}")
        if provider.status == "broken" and provider.entry_point:
            lines.append(f"{pad}entry point: {provider.entry_point}")
    problems = diagnosis.all_problems()
    if diagnosis.warnings:
        lines += ["", "Warnings"] + [f"  - {w}" for w in diagnosis.warnings]
    if problems:
        lines += ["", "Problems"] + [f"  - {p}" for p in problems]
    total = len([p for p in diagnosis.providers if p.status != "broken"])
    outcome = {EXIT_OK: "ok", EXIT_PROBLEM: "problems found", EXIT_OFF: "nothing would be sent"}
    lines += [
        "",
        f"{len(diagnosis.enabled)} of {total} providers enabled"
        + (", checked" if diagnosis.checked else "")
        + f"; {outcome[diagnosis.exit_code]} (exit {diagnosis.exit_code})",
    ]
    return "\n".join(lines) + "\n"


def render_send_test(report: SendTestReport) -> str:
    """`telemetry send-test` as aligned text."""
    lines = [f"telemetry send-test: event {report.event!r}, client_id database {report.database}", ""]
    if report.refused is not None:
        lines.append(f"  nothing sent: {report.refused}")
    else:
        lines += _rows([[r.name, r.status, r.answer] for r in report.results])
    lines += ["", f"exit {report.exit_code}"]
    return "\n".join(lines) + "\n"


# -- certify ---------------------------------------------------------------------------------------------


def _spec_reference(provider: str) -> str | None:
    """`provider` itself when it is MODULE:ATTR, else the contract spec of that registered provider."""
    if ":" in provider:
        return provider
    from .registry import discover

    registered = discover().get(provider)
    return None if registered is None else registered.registration.contract_spec


def certify(
    provider: str,
    *,
    report: str | None = None,
    as_json: bool = False,
    verbose: bool = False,
    out: TextIO | None = None,
) -> int:
    """Run `pytest --pyargs contract_tests --provider REF` in a subprocess; print the table."""
    stream = out or sys.stdout
    reference = _spec_reference(provider)
    if reference is None:
        sys.stderr.write(
            f"telemetry certify: {provider!r} is neither MODULE:ATTR nor a registered provider\n"
        )
        return EXIT_USAGE
    with tempfile.TemporaryDirectory(prefix="telemetry-certify-") as scratch:
        report_path = Path(report) if report else Path(scratch) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "contract_tests",
            "--provider",
            reference,
            "--contract-report",
            str(report_path),
            "-q",
            "-p",
            "no:cacheprovider",
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        try:
            done = subprocess.run(  # noqa: S603 - our own interpreter, our own arguments
                command, capture_output=True, text=True, env=env, timeout=CERTIFY_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            sys.stderr.write(f"telemetry certify: the contract suite ran over {CERTIFY_TIMEOUT:.0f} s\n")
            return EXIT_PROBLEM
        if verbose:
            sys.stderr.write(done.stdout + done.stderr)
        if not report_path.is_file():
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
            return EXIT_USAGE if done.returncode in (2, 4, 5) else EXIT_PROBLEM
        document = json.loads(report_path.read_text())
    certified = bool(document["providers"]) and all(p["certified"] for p in document["providers"])
    if as_json:
        _emit(stream, document, True)
    else:
        _emit(stream, render_certification(document), False)
    return EXIT_OK if certified and done.returncode == 0 else EXIT_PROBLEM


def render_certification(document: dict[str, Any]) -> str:
    """The conformance report of `--contract-report` as aligned text, one table per provider."""
    lines: list[str] = []
    for provider in document["providers"]:
        checks = provider["checks"]
        counts = {o: sum(1 for c in checks if c["outcome"] == o) for o in ("passed", "skipped", "failed")}
        verdict = "certified" if provider["certified"] else "NOT certified"
        lines += [
            f"{provider['provider']} {provider['version']}: {verdict}",
            f"  {provider['provider_class']}; capabilities: {', '.join(provider['capabilities']) or 'none'}",
            "",
        ]
        rows = [["group", "check", "outcome", "reason"]]
        rows += [[c["group"], c["check"], c["outcome"], c["reason"][:100]] for c in checks]
        lines += _rows(rows)
        lines += [
            "",
            f"  {counts['passed']} passed, {counts['skipped']} skipped, {counts['failed']} failed",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
