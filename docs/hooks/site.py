"""MkDocs hook: the pages that are generated, so they cannot drift from what they describe.

- `index.md` is `README.md` (its `docs/...` links made site-relative): one front page.
- `<!-- generated: config groups -->` in a page becomes a reference of every option file under
  `conf/` (each key, its default as written, the comment above it), read line by line.
- `<!-- generated: sweeper -->` becomes the table of the sweeper's structured config (each field,
  its type, its default, the comment above it), read from the dataclass and its source, followed by
  the sampler and pruner options the plugin registers in Hydra's ConfigStore.

`tests/test_readme_commands.py` reads the pages through `page_markdown`, as the site shows them.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import re
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONF = ROOT / "conf"
CONFIG_GROUPS_MARK = "<!-- generated: config groups -->"
SWEEPER_MARK = "<!-- generated: sweeper -->"

_KEY = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<key>[\w./@+-]+):(?: +(?P<value>.*))?$")
_ITEM = re.compile(r"^(?P<indent> *)- +(?P<value>.*)$")
_INLINE_COMMENT = re.compile(r"\s+#\s.*$")


def sweeper_config() -> type:
    """The sweeper's structured config dataclass (the one import of the plugin's layout)."""
    from hydra_plugins.freezesweep_sweeper.config import FreezesweepSweeperConf as SweeperConf

    return SweeperConf


def page_markdown(name: str) -> str:
    """The Markdown of the page `name` (e.g. `index.md`) as the site renders it."""
    text = (DOCS / name).read_text()
    if name == "index.md":
        text = re.sub(r"\]\(docs/", "](", (ROOT / "README.md").read_text())
    if CONFIG_GROUPS_MARK in text:
        text = text.replace(CONFIG_GROUPS_MARK, config_groups_reference())
    if SWEEPER_MARK in text:
        text = text.replace(SWEEPER_MARK, sweeper_reference())
    return text


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: swap in the generated parts of a page."""
    return page_markdown(page.file.src_uri)


def on_serve(server: Any, *, config: Any, builder: Any) -> Any:
    """MkDocs event: `mkdocs serve` rebuilds when the README, the configs or the plugin change."""
    for path in ("README.md", "conf", "sweeps", "src/hydra_plugins"):
        server.watch(str(ROOT / path))
    return server


# ---- config groups -------------------------------------------------------------------------


def _prose(text: str) -> str:
    """Comment text as Markdown prose: code spans kept, Markdown and HTML characters escaped."""
    parts = text.split("`")
    spans = len(parts) % 2 == 1  # backticks in pairs: code spans, kept as they are
    if not spans:
        parts = [text]
    for index in range(0, len(parts), 2):
        part = parts[index].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        parts[index] = re.sub(r"([\\*_\[\]|])", r"\\\1", part)
    joined = "`".join(parts)
    return joined if spans else joined.replace("`", "\\`")


def _code(value: str) -> str:
    """A value as an inline code span (a `|` inside one does not split a table's cells)."""
    return f"`{value}`" if value else ""


def yaml_keys(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The header comment of a YAML file and its (dotted key, value as written, comment) rows.

    A row's comment is the block of comment lines right above the key (or its inline comment).
    Items of a list of mappings are numbered (`stages.0.name`); a list of scalars is one value.
    """
    header: list[str] = []
    rows: list[tuple[str, str, str]] = []
    comments: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent, path) of open mappings
    counters: dict[str, int] = {}
    lists: set[str] = set()
    seen_key = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment = stripped[1:].removeprefix(" ").rstrip()
            if not comment.startswith("@package"):
                comments.append(comment if seen_key else comment or "\n")
            continue
        if not stripped:
            if not seen_key:
                header, comments = header + comments, []
            continue
        if not seen_key and comments:
            header, comments = header + comments, []
        seen_key = True
        found = _KEY.match(line)
        item = _ITEM.match(line)
        if item is not None:
            while stack and stack[-1][0] >= len(item.group("indent")):
                stack.pop()
        if item is not None and stack and stack[-1][1].rpartition(".")[2] == "defaults":
            # A defaults list is one row: its entries in order, the comments among them joined.
            index = next(i for i, row in enumerate(rows) if row[0] == stack[-1][1])
            key, value, note = rows[index]
            entry = _INLINE_COMMENT.sub("", item.group("value")).strip()
            rows[index] = (key, f"{value}, {entry}" if value else entry, _join(note, *comments))
            comments = []
            continue
        if found is None and item is not None:  # a scalar or flow-mapping item of a list
            indent = len(item.group("indent"))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            parent = stack[-1][1] if stack else ""
            for index, (key, value, note) in enumerate(rows):
                if key == parent:
                    joined = f"{value}, {item.group('value')}" if value else item.group("value")
                    rows[index] = (key, joined, note)
                    lists.add(key)
            comments = []
            continue
        if found is None:
            comments = []
            continue
        indent = len(found.group("indent"))
        if found.group("dash"):
            while stack and stack[-1][0] >= indent:
                stack.pop()
            parent = stack[-1][1] if stack else ""
            number = counters[parent] = counters.get(parent, -1) + 1
            stack.append((indent, f"{parent}.{number}" if parent else str(number)))
            indent += len(found.group("dash"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*([stack[-1][1]] if stack else []), found.group("key")])
        raw = found.group("value") or ""
        value = _INLINE_COMMENT.sub("", raw).strip()
        inline = raw[len(_INLINE_COMMENT.sub("", raw)) :].strip().lstrip("#").strip()
        note = _join(*comments, inline)
        rows.append((path, value, note))
        comments = []
        if not value:
            stack.append((indent, path))
    listed = lists | {k for k, _, _ in rows if k.rpartition(".")[2] == "defaults"}
    rows = [(key, f"[{value}]" if key in listed else value, note) for key, value, note in rows]
    return _header(header), rows


def _join(*comments: str) -> str:
    return " ".join(comment.strip() for comment in comments if comment.strip())


def _header(lines: list[str]) -> str:
    """A file's header comment as Markdown: blank comment lines part paragraphs, lines indented
    by two or more spaces are a shell example."""
    blocks: list[tuple[bool, list[str]]] = []
    for line in lines:
        code = line.startswith("  ")
        if line == "\n" or not line.strip():
            blocks.append((False, []))
        elif blocks and blocks[-1][0] == code and blocks[-1][1]:
            blocks[-1][1].append(line)
        else:
            blocks.append((code, [line]))
    parts = []
    for code, block in blocks:
        if code:
            parts.append("```bash\n" + textwrap.dedent("\n".join(block)) + "\n```")
        elif block:
            parts.append(_prose(" ".join(part.strip() for part in block)))
    return "\n\n".join(parts)


def _table(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| key | default | comment |", "|---|---|---|"]
    lines += [f"| `{key}` | {_code(value)} | {_prose(note)} |" for key, value, note in rows]
    return "\n".join(lines)


def config_groups_reference() -> str:
    """Markdown for `conf/config.yaml` and every option file of every group under `conf/`."""
    header, rows = yaml_keys((CONF / "config.yaml").read_text())
    parts = ["### The primary config: `conf/config.yaml`", header, _table(rows)]
    # os.walk, unlike Path.rglob on Python 3.11, follows conf/sweep, the link to sweeps/.
    groups = sorted(
        Path(folder)
        for folder, _, names in os.walk(CONF, followlinks=True)
        if Path(folder) != CONF and any(name.endswith(".yaml") for name in names)
    )
    for folder in groups:
        group = folder.relative_to(CONF).as_posix()
        where = "`sweeps/` (linked as `conf/sweep`)" if group == "sweep" else f"`conf/{group}/`"
        parts.append(f"### `{group}=`: {where}")
        for option in sorted(folder.glob("*.yaml")):
            header, rows = yaml_keys(option.read_text())
            parts += [f"#### `{group}={option.stem}`", header, _table(rows)]
    return "\n\n".join(part for part in parts if part) + "\n"


# ---- the sweeper's structured config -------------------------------------------------------


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not isinstance(annotation, types.GenericAlias):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    return repr(value)


def dataclass_fields(cls: type) -> list[tuple[str, str, str, str]]:
    """(name, type, default, comment) of each field; fields declared in a run share the comment
    above the first of them."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef)
    comments: dict[str, str] = {}
    previous = ""
    for statement in node.body:
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            previous = ""
            continue
        above: list[str] = []
        row = statement.lineno - 2
        while row >= 0 and lines[row].strip().startswith("#"):
            above.insert(0, lines[row].strip().lstrip("#").strip())
            row -= 1
        name = statement.target.id
        blank_or_field_above = row >= 0 and lines[row].strip() != "" and not above
        comments[name] = " ".join(above) or (comments[previous] if blank_or_field_above else "")
        previous = name
    hints = typing.get_type_hints(cls)
    rows = []
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = "???"
        rows.append(
            (field.name, _type_name(hints[field.name]), _yaml_value(default), comments[field.name])
        )
    return rows


def sweeper_reference() -> str:
    """Markdown for the sweeper's config dataclass and its registered sampler/pruner options."""
    from hydra.core.config_store import ConfigStore

    cls = sweeper_config()
    lines = [
        f"Generated from `{cls.__module__}.{cls.__qualname__}`.",
        "",
        "| `hydra.sweeper.` field | type | default | comment |",
        "|---|---|---|---|",
    ]
    for name, kind, default, note in dataclass_fields(cls):
        lines.append(f"| `{name}` | {_code(kind)} | {_code(default)} | {_prose(note)} |")
    store = ConfigStore.instance()
    for group in ("sampler", "pruner"):
        lines += ["", f"Options of `hydra/sweeper/{group}` registered by the plugin:", ""]
        lines += ["| option | `_target_` | arguments (null: Optuna's default) |", "|---|---|---|"]
        for entry in sorted(store.list(f"hydra/sweeper/{group}")):
            node = store.load(f"hydra/sweeper/{group}/{entry}").node
            arguments = ", ".join(f"`{key!s}`" for key in node if key != "_target_")
            lines.append(f"| `{Path(entry).stem}` | `{node['_target_']}` | {arguments} |")
    return "\n".join(lines) + "\n"
