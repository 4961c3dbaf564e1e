"""Markdown as GitHub shows it, for the tests that keep the docs' links and anchors true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# README.md and every page under docs/: the documentation whose links must resolve.
DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# [text](target) outside inline code; an image's ![alt](target) too. The target ends at a blank or the closing
# parenthesis (no page here puts a parenthesis in a link's target).
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"(`+).+?\1")


def _prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks."""
    lines, in_code = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code:
            lines.append((number, line))
    return lines


def markdown_anchors(path: Path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings (outside code blocks)."""
    anchors = set()
    for _, line in _prose_lines(path):
        if match := re.match(r"#+\s+(.*)", line):
            anchors.add(re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def relative_links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of each link of a page that points into this repository (no scheme, no mailto)."""
    links = []
    for number, line in _prose_lines(path):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):
                links.append((number, target))
    return links
