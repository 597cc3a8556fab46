"""`python -m fakes serve [--host 127.0.0.1] [--port 8765] [--verbose]`."""

from __future__ import annotations

import gc

from fakes.cli import main

# The standalone server keeps every request it records until told to clear: spare those
# long-lived objects most of the full garbage collections the default thresholds would run.
gc.freeze()
gc.set_threshold(10_000, 10, 10)
raise SystemExit(main())
