"""The docs hold together: every relative link of README.md, docs/ and the two other pages that link into them names
a file of the repository and, where it names a section, a heading of that page; every page of docs/ is reached from
the README."""

from __future__ import annotations

from pathlib import Path

from tests.markdown import DOC_PAGES, ROOT, markdown_anchors, relative_links

LINKING_PAGES = [*DOC_PAGES, ROOT / "BENCHMARKS.md", ROOT / "monitoring" / "README.md"]


def _target(page: Path, link: str) -> tuple[Path, str]:
    """The file and the anchor ('' for none) a link of `page` names."""
    file, _, anchor = link.partition("#")
    return (page.parent / file).resolve() if file else page, anchor


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = []
    for page in LINKING_PAGES:
        for number, link in relative_links(page):
            file, anchor = _target(page, link)
            where = f"{page.relative_to(ROOT)}:{number}: {link}"
            if not file.exists():
                broken.append(f"{where}: no such file")
            elif not file.is_relative_to(ROOT):
                broken.append(f"{where}: outside the repository")
            elif anchor and (file.suffix != ".md" or anchor not in markdown_anchors(file)):
                broken.append(f"{where}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, "links that do not resolve:\n  " + "\n  ".join(broken)


def test_the_links_are_found() -> None:
    """The rule is not vacuous: the README's own links to its pages, one with an anchor, are among those found."""
    links = {link for _, link in relative_links(ROOT / "README.md")}
    assert {"docs/getting-started.md", "docs/reference/config.md", "docs/reference/cli.md#exit-codes"} <= links


def test_every_docs_page_is_reached_from_the_readme() -> None:
    reached, pending = set(), [ROOT / "README.md"]
    while pending:
        page = pending.pop()
        for _, link in relative_links(page):
            file, _ = _target(page, link)
            if file.suffix == ".md" and file.is_relative_to(ROOT / "docs") and file not in reached:
                reached.add(file)
                pending.append(file)
    unreached = [str(page.relative_to(ROOT)) for page in DOC_PAGES[1:] if page not in reached]
    assert not unreached, f"docs pages no link leads to from README.md: {unreached}"
