"""The documentation site's pages as the site renders them, for the tests that read them.

`docs/hooks/site.py` (the MkDocs hook) makes the front page from README.md and fills in the
generated configuration reference; it is loaded from its file, since docs/ is not a package.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.helpers.shrink import ROOT


def site_hook() -> ModuleType:
    """The MkDocs hook module, `docs/hooks/site.py`."""
    spec = importlib.util.spec_from_file_location("site_hook", ROOT / "docs" / "hooks" / "site.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pages() -> dict[str, str]:
    """README.md and every page of the site (`docs/NAME.md`), as Markdown the way the site shows
    it; `docs/index.md` is left out, being the README."""
    hook = site_hook()
    found = {"README.md": (ROOT / "README.md").read_text()}
    for path in sorted((ROOT / "docs").rglob("*.md")):
        name = path.relative_to(ROOT / "docs").as_posix()
        if name != "index.md" and not name.startswith("hooks/"):
            found[f"docs/{name}"] = hook.page_markdown(name)
    return found
