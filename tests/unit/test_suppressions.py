"""Every silenced check says why: each `type: ignore[code]` and `noqa: CODE` in the Python tree names its
codes and has a `# why` comment after it on the same line."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREES = ("server", "tests", "loadtest")
PRAGMA = re.compile(r"#\s*(type:\s*ignore|noqa)\b(?P<rest>.*)$")
EXPLAINED = re.compile(r"^(\[[a-z-]+(,[a-z-]+)*\]|:\s*[A-Z]+[0-9]+(,\s*[A-Z]+[0-9]+)*)\s+#\s*\S")


def test_every_type_ignore_and_noqa_names_its_codes_and_says_why():
    unexplained = []
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                found = PRAGMA.search(line)
                if found is None or EXPLAINED.match(found["rest"]):
                    continue
                unexplained.append(f"{relative}:{number}: {line.strip()}")
    assert not unexplained, "\n".join(unexplained)
