#!/usr/bin/env python3
"""Record every provider's cassettes (`make cassettes`): the payload formats, pinned offline.

By default every scenario of every built-in provider that declares the `cassettes` capability is
recorded against the in-process fakes (loopback only, with fault injection for the error paths)
into cassettes/<provider>/<scenario>.yaml. The run is deterministic: run it twice and the files
are identical.

    python scripts/record_cassettes.py                   # everything, against the fakes
    python scripts/record_cassettes.py --provider GA4    # one provider
    python scripts/record_cassettes.py --out /tmp/c      # somewhere else (the tests compare)

With `--live` (`make cassettes LIVE=1`) the scenarios that need no fault injection are recorded
against the REAL vendor endpoints instead, using real credentials from the environment
(GA_MEASUREMENT_ID + GA_API_SECRET, AMPLITUDE_API_KEY, MIXPANEL_PROJECT_TOKEN,
RUDDERSTACK_WRITE_KEY + RUDDERSTACK_DATA_PLANE_URL, SEGMENT_WRITE_KEY); providers without
credentials are skipped.
It needs network access, sends a handful of real events to those projects, and refuses to run
when CI is set: never run it in CI. Secrets are scrubbed as always, and every file written is
scanned for secrets afterwards; the run fails (and deletes the file) when one is found.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from contract_tests.builtin import builtin_specs  # noqa: E402
from contract_tests.cassette_scenarios import (  # noqa: E402
    RECORDING_SECRETS,
    applicable,
    cassette_dir,
    cassette_specs,
    record,
)
from contract_tests.cassettes import configured_secrets, scan_for_secrets  # noqa: E402

if TYPE_CHECKING:
    from contract_tests.spec import ProviderSpec
    from telemetry.base_telemetry import ProviderConfig


def _ga4_live(environ: Mapping[str, str]) -> ProviderConfig | None:
    from telemetry.ga4_provider import GA4Config

    if not (environ.get("GA_MEASUREMENT_ID") and environ.get("GA_API_SECRET")):
        return None
    return GA4Config(
        measurement_id=environ["GA_MEASUREMENT_ID"],
        api_secret=environ["GA_API_SECRET"],
        region=(environ.get("GA_REGION") or "global").lower(),
    )


def _amplitude_live(environ: Mapping[str, str]) -> ProviderConfig | None:
    from telemetry.amplitude_provider import AmplitudeConfig

    if not environ.get("AMPLITUDE_API_KEY"):
        return None
    return AmplitudeConfig(
        api_key=environ["AMPLITUDE_API_KEY"], region=(environ.get("AMPLITUDE_REGION") or "us").lower()
    )


def _from_env(module: str, attribute: str) -> Callable[[Mapping[str, str]], ProviderConfig | None]:
    """A live config read by the provider's own `Config.from_env`, when it is valid."""

    def build(environ: Mapping[str, str]) -> ProviderConfig | None:
        import importlib

        config_class = getattr(importlib.import_module(module), attribute)
        clean = {
            k: v for k, v in environ.items() if not k.endswith("_ENDPOINT") and k != "TELEMETRY_ENDPOINT"
        }
        config: ProviderConfig = config_class.from_env(clean)
        return config if config.is_valid() else None

    return build


def _mixpanel_live(environ: Mapping[str, str]) -> ProviderConfig | None:
    from telemetry.mixpanel_provider import MixpanelConfig

    if not environ.get("MIXPANEL_PROJECT_TOKEN"):
        return None
    # The project token only: events go to /track, as in the cassettes recorded against the fakes.
    return MixpanelConfig(
        project_token=environ["MIXPANEL_PROJECT_TOKEN"],
        region=(environ.get("MIXPANEL_REGION") or "us").lower(),
    )


LIVE_CONFIGS: dict[str, Callable[[Mapping[str, str]], ProviderConfig | None]] = {
    "GA4": _ga4_live,
    "Amplitude": _amplitude_live,
    "Mixpanel": _mixpanel_live,
    "RudderStack": _from_env("telemetry.rudderstack_provider", "RudderStackConfig"),
    "Segment": _from_env("telemetry.rudderstack_provider", "SegmentConfig"),
}
"""Provider name -> its config for the real vendor, read from the environment (None: no credentials)."""


def _target(spec: ProviderSpec, out: Path | None) -> Path:
    directory = cassette_dir(spec)
    return out / directory.name if out is not None else directory


def _record_provider(spec: ProviderSpec, target: Path, live: bool) -> list[str]:
    """Record `spec`'s scenarios into `target`; returns what was written."""
    scenarios = applicable(spec)
    live_config = None
    if live:
        factory = LIVE_CONFIGS.get(spec.name)
        live_config = factory(os.environ) if factory else None
        if live_config is None:
            print(f"{spec.name}: no real credentials in the environment; skipped")
            return []
        scenarios = [s for s in scenarios if s.live]
    written = []
    with tempfile.TemporaryDirectory(prefix="cassettes-") as tmp:
        scratch = Path(tmp)
        for scenario in scenarios:
            outcome = record(spec, scenario, scratch, live_config=live_config)
            written.append(scenario.name)
            print(f"{spec.name:12} {scenario.name:18} {_summary(outcome)}")
        target.mkdir(parents=True, exist_ok=True)
        if not live:  # a full recording replaces the folder: no stale scenario survives
            for old in target.glob("*.yaml"):
                old.unlink()
        for name in written:
            shutil.copyfile(scratch / f"{name}.yaml", target / f"{name}.yaml")
    return written


def _summary(outcome: Mapping[str, object]) -> str:
    dropped = outcome.get("dropped") or {}
    return f"sent {outcome.get('sent')}, retried {outcome.get('retried')}, dropped {dropped or 0}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write <out>/<provider>/ instead of cassettes/"
    )
    parser.add_argument("--provider", action="append", default=[], help="only this provider (repeatable)")
    parser.add_argument("--live", action="store_true", help="record against the real vendors (never in CI)")
    args = parser.parse_args(argv)

    if args.live and os.environ.get("CI"):
        parser.error("--live calls the real vendor endpoints and never runs in CI")
    if not args.live:  # the fakes listen on loopback: never send that through a proxy
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

    specs = cassette_specs(builtin_specs())
    if args.provider:
        wanted = {name.lower() for name in args.provider}
        unknown = wanted - {spec.name.lower() for spec in specs}
        if unknown:
            parser.error(f"no provider with cassettes named {sorted(unknown)}")
        specs = [spec for spec in specs if spec.name.lower() in wanted]

    known = [*RECORDING_SECRETS.values(), *configured_secrets(os.environ)]
    failed = False
    for spec in specs:
        target = _target(spec, args.out)
        written = _record_provider(spec, target, args.live)
        spec_secrets = spec.make_config("http://127.0.0.1:9").secrets()
        for name in written:
            path = target / f"{name}.yaml"
            findings = scan_for_secrets(path, [*known, *spec_secrets])
            if findings:
                failed = True
                path.unlink()
                print(f"SECRET FOUND, {path} deleted:", *findings, sep="\n  ", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
