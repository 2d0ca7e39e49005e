"""The README and docs/ link only to files inside the repository, and every such link resolves.

``docs/api/index.md`` is not committed: ``make docs`` renders it from the spec. This test runs
that generator (as ``make docs`` does, into the git-ignored ``docs/api/``) so the link to it
resolves like any other.
"""

from __future__ import annotations

import re
from pathlib import Path

from codegen import gen_docs

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
EXTERNAL = ("http://", "https://", "mailto:")


def links(doc: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.S | re.M)  # code is not links
    return LINK.findall(text)


def test_every_relative_link_resolves_to_a_file_in_the_repository() -> None:
    assert gen_docs.main([]) == 0  # `make docs`: docs/api/index.md, git-ignored
    bad = []
    count = 0
    for doc in DOCS:
        for target in links(doc):
            if target.startswith(EXTERNAL) or target.startswith("#"):
                continue
            count += 1
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(ROOT):
                bad.append(f"{doc.name}: {target} is outside the repository")
            elif not path.exists():
                bad.append(f"{doc.name}: {target} does not exist")
    assert count > 10
    assert not bad, bad


def test_nothing_points_outside_the_repository() -> None:
    for doc in DOCS:
        text = doc.read_text()
        assert "../shared" not in text and "/work/" not in text, doc.name


def test_readme_lists_the_documentation() -> None:
    readme_links = set(links(ROOT / "README.md"))
    wanted = {"docs/architecture.md", "docs/deploy.md", "docs/pfsd.md", "docs/benchmarks.md",
              "docs/api/index.md"}
    # Every document in docs/ is listed (security.md and any later one included).
    wanted |= {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert wanted <= readme_links, wanted - readme_links
