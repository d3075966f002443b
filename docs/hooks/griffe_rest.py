"""Griffe extension: render the code's reST-flavoured docstrings as Markdown.

The docstrings are prose written for ``help()`` and Sphinx habits: ``literal``, a paragraph
ending in ``::`` followed by an indented example, and definition lists (a term line, then an
indented description). Markdown would show the indented parts as code blocks. This turns
``::`` examples into fenced code and dedents definition bodies, without touching the code.
"""

from __future__ import annotations

import textwrap
from typing import Any

from griffe import Extension, Object


def _convert(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        indented = line.startswith((" ", "\t")) and line.strip()
        if line.rstrip().endswith("::"):
            # "Example::" -> "Example:" and the block indented deeper than it as fenced code.
            depth = len(line) - len(line.lstrip())
            stripped = line.strip()[:-1]
            out.append(stripped if stripped not in ("", ":") else "")
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > depth):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            code = textwrap.dedent("\n".join(block)).strip("\n").splitlines()
            out += ["", "```python", *code, "```", ""]
            continue
        if indented:
            out.append(line.lstrip())  # a definition body: an ordinary paragraph
        else:
            out.append(line)
        i += 1
    return "\n".join(out)


class RestToMarkdown(Extension):
    """Applies ``_convert`` to every docstring griffe loads."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _convert(obj.docstring.value)
