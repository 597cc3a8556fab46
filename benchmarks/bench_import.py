"""Import cost: `python -X importtime -c "import X"`, cumulative µs of the top-level module.

Each module is imported in a fresh interpreter, several times (median), beside `amplitude`,
`requests` and `posthog` in the same run, after one warm-up import with bytecode writing allowed:
installed packages come with their bytecode compiled, and a source checkout run with
PYTHONDONTWRITEBYTECODE would otherwise be timed compiling itself. The wall time of
`from telemetry import TelemetryManager` (what an application pays) is printed too. A child
process also checks that `import telemetry` loads no vendor SDK and no HTTP library
(`requests`, `urllib3`, `amplitude` stay out of `sys.modules` until a provider sends).

    python benchmarks/bench_import.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import ROOT, median

MODULES = ("telemetry", "amplitude", "requests", "posthog")
MUST_NOT_LOAD = ("requests", "urllib3", "amplitude", "posthog", "segment", "mixpanel", "http.client")
ANCHORS_MS = {"amplitude": 54, "requests": 100, "posthog": 200}


ImportLine = tuple[int, int, int, str]  # depth, self µs, cumulative µs, module


def _env() -> dict[str, str]:
    """This environment with bytecode writing allowed (see the module docstring)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run our interpreter with `args` in the checkout, bytecode writing allowed."""
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, *args], capture_output=True, text=True, check=True, cwd=ROOT, timeout=120, env=_env()
    )


def import_tree(module: str) -> list[ImportLine]:
    """The -X importtime lines of `import module` in a fresh interpreter (post-order)."""
    result = _python("-X", "importtime", "-c", f"import {module}")
    lines: list[ImportLine] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        lines.append((depth, int(parts[0]), int(parts[1]), name.strip()))
    return lines


def cumulative_us(lines: list[ImportLine], module: str) -> int:
    for depth, _, cumulative, name in lines:
        if depth == 0 and name == module:
            return cumulative
    raise RuntimeError(f"no importtime line for {module!r}")


def heaviest_foreign(lines: list[ImportLine], package: str, top: int = 6) -> list[tuple[str, str, int]]:
    """The heaviest modules outside `package` that a module of `package` imported first."""
    found: list[tuple[str, str, int]] = []
    for i, (depth, _, cumulative, name) in enumerate(lines):
        if name == package or name.startswith(package + "."):
            continue
        parent = next((n for d, _, _, n in lines[i + 1 :] if d == depth - 1), None) if depth > 0 else None
        if parent is not None and (parent == package or parent.startswith(package + ".")):
            found.append((name, parent, cumulative))
    return sorted(found, key=lambda item: -item[2])[:top]


def manager_import_ms() -> float:
    """Wall ms of `from telemetry import TelemetryManager` in a fresh interpreter."""
    code = (
        "import time; t = time.perf_counter(); from telemetry import TelemetryManager; "
        "print((time.perf_counter() - t) * 1000)"
    )
    output = _python("-c", code).stdout
    return float(output.strip().splitlines()[-1])


def modules_loaded_by_telemetry() -> dict[str, bool]:
    """Which of MUST_NOT_LOAD a fresh `import telemetry` put in sys.modules."""
    code = (
        "import json, sys; import telemetry; "
        f"print(json.dumps({{m: m in sys.modules for m in {list(MUST_NOT_LOAD)!r}}}))"
    )
    output = _python("-c", code).stdout
    loaded: dict[str, bool] = json.loads(output.strip().splitlines()[-1])
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for module in MODULES:
        import_tree(module)  # warm-up: bytecode written where it is missing or stale
    trees = {m: [import_tree(m) for _ in range(args.runs)] for m in MODULES}
    samples = {m: [cumulative_us(t, m) for t in ts] for m, ts in trees.items()}
    medians = {m: median(s) for m, s in samples.items()}
    print(
        "Import cost, cumulative ms of the top-level import "
        f"(-X importtime, median of {args.runs} fresh processes)"
    )
    print(f"{'module':12} {'median':>9} {'min':>9} {'max':>9} {'anchor':>9}")
    for module in MODULES:
        s = samples[module]
        anchor = f"~{ANCHORS_MS[module]} ms" if module in ANCHORS_MS else ""
        print(
            f"{module:12} {medians[module] / 1000:6.1f} ms {min(s) / 1000:6.1f} ms "
            f"{max(s) / 1000:6.1f} ms {anchor:>9}"
        )
    fastest = min(medians[m] for m in MODULES if m != "telemetry")
    ours = medians["telemetry"]
    verdict = "MET" if ours <= fastest / 2 else f"MISSED by {(ours - fastest / 2) / 1000:.1f} ms"
    print(
        f"goal: telemetry <= half the fastest other ({fastest / 2000:.1f} ms): {verdict} "
        f"(telemetry is {ours / fastest:.0%} of the fastest)"
    )
    if ours > fastest / 2:
        runs = trees["telemetry"]
        typical = runs[sorted(range(len(runs)), key=lambda i: samples["telemetry"][i])[len(runs) // 2]]
        print("  what dominates (outside modules first imported by telemetry, cumulative, median run):")
        for name, parent, cumulative in heaviest_foreign(typical, "telemetry"):
            print(f"    {name:28} {cumulative / 1000:6.1f} ms  (imported by {parent})")
        own = sorted(
            ((us, n) for _, us, _, n in typical if n == "telemetry" or n.startswith("telemetry.")),
            reverse=True,
        )
        print(
            f"    telemetry's own modules, self time: {sum(us for us, _ in own) / 1000:.1f} ms in all; "
            "heaviest: " + ", ".join(f"{n} {us / 1000:.1f} ms" for us, n in own[:3])
        )
    manager_ms = [manager_import_ms() for _ in range(args.runs)]
    print(
        f"from telemetry import TelemetryManager (manager, providers, policy, PII guard, engine): "
        f"{median(manager_ms):.1f} ms wall (min {min(manager_ms):.1f}, max {max(manager_ms):.1f})"
    )
    loaded = modules_loaded_by_telemetry()
    bad = [m for m, present in loaded.items() if present]
    print("import telemetry loads: " + ", ".join(f"{m}={'YES' if p else 'no'}" for m, p in loaded.items()))
    print(
        "check: import telemetry loads no vendor SDK and no HTTP library: "
        + ("OK" if not bad else f"FAILED ({bad})")
    )


if __name__ == "__main__":
    main()
