"""MkDocs hook: parts of the docs generated from the code, so they cannot drift from it.

* ``<!-- generated: settings -->`` becomes a table of every ``ServerConfig`` field (name,
  command-line flag, default, help), read from ``aiohttpbase.config``; a default of ``None``
  is shown as what it means, the field's ``unset`` metadata ("no limit"), as ``--help`` does.
* ``<!-- generated: cli -->`` becomes a table of every ``python -m aiohttpbase`` option,
  read from the argument parser of ``aiohttpbase.cli``.
* ``bench/results/results.png`` and ``bench/results/varied/results.png`` (written by
  ``bench/run.py``) are published with the site, so the benchmarks page shows the latest charts.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from typing import Any

from mkdocs.structure.files import File, Files

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BENCH_FILES = ("bench/results/results.png", "bench/results/varied/results.png")


def _escape(text: str) -> str:
    return re.sub(r"([\\`*_|<>\[\]])", r"\\\1", text)


def _settings_table() -> str:
    from aiohttpbase.config import ServerConfig

    rows = ["| setting | flag | default | meaning |", "|---|---|---|---|"]
    for field in dataclasses.fields(ServerConfig):
        flag = "--" + field.name.replace("_", "-")
        if isinstance(field.default, bool):
            flag = f"{flag} / --no-{field.name.replace('_', '-')}"
        if field.default is None and field.metadata.get("unset"):
            default = _escape(field.metadata["unset"])  # what None means: "no limit"
        else:
            default = f"`{field.default!r}`"
        rows.append(f"| `{field.name}` | `{flag}` | {default} | {_escape(field.metadata['help'])} |")
    return "\n".join(rows)


def _cli_table() -> str:
    from aiohttpbase.cli import build_parser

    parser = build_parser()
    rows = ["| option | meaning |", "|---|---|"]
    for action in parser._actions:
        names = ", ".join(action.option_strings) or (action.metavar or action.dest)
        if (
            action.option_strings
            and action.nargs != 0
            and not isinstance(action, argparse.BooleanOptionalAction)
        ):
            names += f" {action.metavar or action.dest.upper()}"
        text = (action.help or "").replace("%(default)s", str(action.default)).replace("%%", "%")
        rows.append(f"| `{names}` | {_escape(text)} |")
    return "\n".join(rows)


_GENERATORS = {"settings": _settings_table, "cli": _cli_table}


def on_page_markdown(markdown: str, **_: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        return _GENERATORS[match.group(1)]()

    return re.sub(r"<!-- generated: (\w+) -->", replace, markdown)


def on_files(files: Files, config: Any, **_: Any) -> Files:
    for path in _BENCH_FILES:
        if os.path.exists(os.path.join(_ROOT, path)):
            files.append(File(path, _ROOT, config["site_dir"], config["use_directory_urls"]))
    return files
