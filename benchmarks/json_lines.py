"""JSON-lines output of the benchmark scripts: each line is printed and, with `--out`, appended to that file as
soon as it is measured (an interrupted run keeps the lines it finished).

Example:
    >>> from json_lines import JsonLines      # the scripts run as `python benchmarks/NAME.py`, beside this file
    >>> lines = JsonLines(args.out)
    >>> lines.emit({"machine": machine_info(), "argv": sys.argv[1:]})
"""

from __future__ import annotations

import json


class JsonLines:
    """Prints result lines and appends them to `out` (None: print only)."""

    def __init__(self, out: str | None):
        self.out = out

    def emit(self, line: dict) -> dict:
        """Prints `line` as JSON (flushed) and appends it to `out`; returns it."""
        text = json.dumps(line)
        print(text, flush=True)
        if self.out:
            with open(self.out, "a") as handle:
                handle.write(text + "\n")
        return line
