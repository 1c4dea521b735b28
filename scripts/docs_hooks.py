"""MkDocs hook (mkdocs.yml `hooks:`): the command line reference, written from the parser itself.

A page's ``<!-- faceapi-cli-reference -->`` line becomes every subcommand's ``--help`` (and each ``people``
action's), so docs/cli.md lists every command and option as the installed `faceapi` has them, and cannot
fall behind it. A page's ``<!-- faceapi-option-schema -->`` line becomes the table of the analysis options,
written from the option schema (`faceapi.option_schema`) the library, REST, the stream and the CLI use.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:  # this checkout's faceapi, whatever the environment has installed
    sys.path.insert(0, str(SRC))

MARKER = "<!-- faceapi-cli-reference -->"
SCHEMA_MARKER = "<!-- faceapi-option-schema -->"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: dict[int, str] = {}
            out = {}
            for name, sub in action.choices.items():
                if id(sub) not in seen:  # aliases (people rm) point at the same parser
                    seen[id(sub)] = name
                    out[name] = sub
            return out
    return {}


def _help(parser: argparse.ArgumentParser) -> str:
    text = parser.format_help()
    return text.replace(str(Path.home()), "~")  # the user's folders as a reader's, not the builder's


def cli_reference() -> str:
    os.environ["COLUMNS"] = "112"  # argparse wraps at the terminal's width
    from faceapi.cli.main import build_parser

    parts = []
    for name, sub in _subparsers(build_parser()).items():
        parts.append(f"### faceapi {name}\n\n```text\n{_help(sub)}```\n")
        for action_name, action in _subparsers(sub).items():
            parts.append(f"#### faceapi {name} {action_name}\n\n```text\n{_help(action)}```\n")
    return "\n".join(parts)


def option_table() -> str:
    from faceapi.option_schema import ANALYZE_OPTIONS

    rows = ["| option (CLI flag) | type | default | takes | applies to | what |", "|---|---|---|---|---|---|"]
    for s in ANALYZE_OPTIONS:
        where = " ".join(f"`{d}`" for d in s.detectors) or "every detector"
        if not s.stream:
            where += " (not the stream)"
        default = "none" if s.default is None else f"`{str(s.default).lower() if s.kind == 'bool' else s.default}`"
        rule = s.rule.removeprefix("must be ").replace("|", "\\|")
        rows.append(f"| `{s.name}` (`{s.flag}`) | {s.kind} | {default} | {rule} | {where} | {s.help} |")
    return "\n".join(rows) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, cli_reference())
    if SCHEMA_MARKER in markdown:
        markdown = markdown.replace(SCHEMA_MARKER, option_table())
    return markdown
