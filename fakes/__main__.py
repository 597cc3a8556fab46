"""`python -m fakes serve [--host 127.0.0.1] [--port 8765] [--verbose]`."""

from __future__ import annotations

from fakes.cli import main

raise SystemExit(main())
