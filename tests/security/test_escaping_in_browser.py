"""Hostile dataset text and hostile model output, through the real CLI, end up as text and only text in report.html
(opened in a real headless Chromium, with its Content-Security-Policy kept), summary.md (rendered by a Markdown
parser) and junit.xml (parsed by a strict XML parser).

The run is real: a manifest whose sample ids, questions, options, answers and L2-L4 labels carry script, attribute,
URL, template, Markdown and control-character payloads, evaluated on a local Ray by an `openai` engine whose server
(ScriptedOpenAIServer, 127.0.0.1) answers each sample with more payloads, so model output flows through the
pipeline into every output.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from ray_eval.cli import main
from ray_eval.outputs.report import FILTER_SCRIPT
from ray_eval.testing import Reply, ScriptedOpenAIServer
from tests.browser import DevTools, chromium_binary, chromium_env, chromium_flags
from tests.conftest import jpeg_bytes, write_jsonl

pytestmark = pytest.mark.ray

PAGE_TITLE = "ShopBench gate report"
SCRIPT = "<script>document.title='pwned'</script>"
ATTR = "\"><img src=x onerror=\"document.title='pwned'\">"
SQUOTE = "' onmouseover='alert(1)"
JS_URL = "javascript:alert(1)"
TEXTAREA = "</textarea><svg onload=alert(1)>"
JINJA = "{{ 7*7 }}"
MD_LINK = "[x](javascript:alert(1))"
MD_IMAGE = "![x](http://evil/x.png)"
LONG = "W" * 30_000 + SCRIPT  # one very long line, with a payload at its far end
PAYLOADS = {"script": SCRIPT, "attr": ATTR, "squote": SQUOTE, "js_url": JS_URL, "textarea": TEXTAREA,
            "jinja": JINJA, "md_link": MD_LINK, "md_image": MD_IMAGE, "long": LONG}
CONTROL = "\x1b[31m\x00\x07\x0b"  # ESC, NUL, BEL, VT: XML 1.0 forbids all four
CDATA_BREAK = "]]></failure></testcase><testcase name=\"injected\"><![CDATA["

# Sample ids (each carries a payload; ASCII, since an id travels in an HTTP header).
ID_MCQ = f"mcq-{SCRIPT}"
ID_OPEN_PASS = f"open-{ATTR}"
ID_OPEN_WRONG = f"open-{SQUOTE}"
ID_FORMAT = f"fmt-{TEXTAREA}"
ID_ERROR = f"err-{JS_URL}"
ID_CONTROL = f"ctl-{MD_LINK}"
ID_JINJA = f"jinja-{JINJA}"
ID_LONG = "long-" + "y" * 3000 + MD_IMAGE

# What the model answers, per sample: payloads in model output.
RESPONSES = {
    ID_MCQ: f"Answer: C {SCRIPT}",
    ID_OPEN_PASS: f"{JINJA} {MD_LINK}",
    ID_OPEN_WRONG: f"{MD_IMAGE} {TEXTAREA} {ATTR}",
    ID_FORMAT: '```json\n{"note": ' + json.dumps(ATTR) + ', "url": ' + json.dumps(SQUOTE) + "}\n```",
    ID_CONTROL: f"{CONTROL} {CDATA_BREAK} {SCRIPT}",
    ID_JINJA: f"Answer: A {JINJA}",
    ID_LONG: LONG,
}
ERROR_MESSAGE = f"upstream refused {SCRIPT} {ATTR} {JS_URL}"

LABEL_L2 = {ID_MCQ: SCRIPT, ID_OPEN_PASS: ATTR, ID_OPEN_WRONG: SQUOTE, ID_FORMAT: JS_URL, ID_ERROR: TEXTAREA,
            ID_CONTROL: JINJA, ID_JINJA: MD_LINK, ID_LONG: MD_IMAGE}
MODEL_LABEL = f"ckpt {SCRIPT} {MD_LINK}"


def manifest_rows() -> list[dict[str, Any]]:
    def row(sample_id: str, fmt: str, question: str, answer: Any, **extra: Any) -> dict[str, Any]:
        l2 = LABEL_L2[sample_id]
        return {"id": sample_id, "subset": "Kitchen" if fmt == "open" else "ShopFront", "format": fmt,
                "question": question, "answer": answer, "media": [{"type": "image", "path": "media/a.jpg"}],
                "labels": {"l1": "Perception", "l2": l2, "l3": f"l3 {l2}", "l4": f"l4 {l2}"}, **extra}

    return [
        row(ID_MCQ, "mcq", f"Which shop? {ATTR}", "B", options=[SCRIPT, ATTR, SQUOTE, TEXTAREA], critical=True),
        row(ID_OPEN_PASS, "open", f"Describe {TEXTAREA}", f"{JINJA} {MD_LINK}"),
        row(ID_OPEN_WRONG, "open", f"What is shown? {MD_IMAGE}", f"{JS_URL} {SQUOTE}"),
        row(ID_FORMAT, "format", f"Report it {JINJA}", {"note": SCRIPT, "url": JS_URL}),
        row(ID_ERROR, "open", f"Anything? {ATTR}", SCRIPT),
        row(ID_CONTROL, "open", f"Control {CONTROL} {SQUOTE}", MD_IMAGE),
        row(ID_JINJA, "mcq", f"{JINJA} {{% if true %}}x{{% endif %}}", "A", options=[JINJA, MD_LINK, MD_IMAGE]),
        row(ID_LONG, "open", LONG, f"{MD_IMAGE} {SQUOTE}"),
    ]


@dataclass
class HostileRun:
    run_dir: Path
    exit_code: int
    rows: list[dict[str, Any]]
    server_user_texts: dict[str, str]
    gate_label_names: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def hostile_run(local_ray, tmp_path_factory) -> HostileRun:
    root = tmp_path_factory.mktemp("hostile")
    (root / "media").mkdir()
    (root / "media" / "a.jpg").write_bytes(jpeg_bytes("green", (96, 64)))
    rows = manifest_rows()
    manifest = write_jsonl(root / "manifest.jsonl", rows)
    script = {sample_id: [Reply.text(text)] for sample_id, text in RESPONSES.items()}
    script[ID_ERROR] = [Reply.status(400, message=ERROR_MESSAGE)]  # 400: final at once, an error row
    gate_labels = {"l2": {SCRIPT: {"min_pass_rate": 0.0}, ATTR: {"min_pass_rate": 1.0}},
                   "l3": {f"l3 {TEXTAREA}": {"min_pass_rate": 0.0}},
                   "l4": {f"l4 {JINJA}": {"min_pass_rate": 0.0}, f"absent {MD_IMAGE}": {"min_pass_rate": 0.5}}}
    with ScriptedOpenAIServer(default=lambda info: Reply.status(400, message="unscripted"), script=script,
                              model="shop-vl") as server:
        config = {
            "dataset": {"path": str(manifest)},
            "engine": {"kind": "openai", "base_url": server.base_url, "model": "shop-vl", "max_retries": 0},
            "run": {"out_dir": str(root / "runs"), "run_id": "hostile", "model_label": MODEL_LABEL},
            "statistics": {"bootstrap_resamples": 100},
            "gate": {"labels": gate_labels},
        }
        config_path = root / "eval.yaml"
        config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        exit_code = main(["run", "-c", str(config_path)])
        user_texts = {info.sample_id: info.user_text for info in server.requests}
    return HostileRun(root / "runs" / "hostile", exit_code, rows, user_texts,
                      [name for names in gate_labels.values() for name in names])


def test_the_payloads_really_flowed_through_the_run(hostile_run: HostileRun) -> None:
    """Not vacuous: every sample reached the server with its text unrendered, and every hostile answer is in the
    results as the model gave it."""
    assert hostile_run.exit_code == 1  # the check of an l4 group no sample has fails the gate
    assert set(hostile_run.server_user_texts) == {row["id"] for row in hostile_run.rows}
    # The question reached the model as text: a template payload in it was not evaluated.
    assert JINJA in hostile_run.server_user_texts[ID_JINJA] and "49" not in hostile_run.server_user_texts[ID_JINJA]
    results = pq.read_table(hostile_run.run_dir / "results.parquet").to_pandas().set_index("sample_id")
    for sample_id, text in RESPONSES.items():
        assert results.loc[sample_id, "response"] == text
    assert results.loc[ID_ERROR, "status"] == "error" and SCRIPT in results.loc[ID_ERROR, "error"]
    assert bool(results.loc[ID_OPEN_PASS, "passed"]) and not bool(results.loc[ID_MCQ, "passed"])


# ---- report.html in a real browser ----------------------------------------------------------------------------------


class DomScan(HTMLParser):
    """Every element with its attributes, every script's text, and all text (character references decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.texts: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in.append(tag)
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            while self._in.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "script":
            self.scripts[-1] += data
        else:
            self.texts.append(data)

    @property
    def text(self) -> str:
        # A browser drops NUL characters from text while parsing (the HTML standard); compare without them.
        return "".join(self.texts).replace("\x00", "")

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def scan_dom(html: str) -> DomScan:
    scan = DomScan()
    scan.feed(html)
    scan.close()
    return scan


def title_of(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html, re.DOTALL)
    assert match, "the page has no <title>"
    return match.group(1)


def assert_payloads_shown_as_text(dom: DomScan) -> None:
    text = dom.text
    for name, payload in PAYLOADS.items():
        assert payload in text, f"payload {name} is not shown as text"
    for sample_id in (ID_MCQ, ID_OPEN_PASS, ID_OPEN_WRONG, ID_FORMAT, ID_ERROR, ID_CONTROL, ID_JINJA, ID_LONG):
        assert sample_id in text, f"sample id {sample_id[:40]!r} is not shown"
    for sample_id, response in RESPONSES.items():
        assert response.replace("\x00", "") in text, f"the response of {sample_id[:40]!r} is not shown whole"
    assert ERROR_MESSAGE in text
    assert MODEL_LABEL in text
    # The template payload is shown literally: never rendered to 49.
    assert f"jinja-{JINJA}" in text and "jinja-49" not in text and "{{ 7*7 }} [x]" in text


def test_report_html_source_escapes_every_payload(hostile_run: HostileRun) -> None:
    html = (hostile_run.run_dir / "report.html").read_text(encoding="utf-8")
    dom = scan_dom(html)
    assert title_of(html) == PAGE_TITLE
    assert_no_live_payload(dom)
    assert_payloads_shown_as_text(dom)


def assert_no_live_payload(dom: DomScan) -> None:
    assert dom.scripts == [FILTER_SCRIPT], "a <script> other than the page's own is in the page"
    handlers = [(tag, name) for tag, attrs in dom.elements for name in attrs if name.lower().startswith("on")]
    assert handlers == [], f"event-handler attributes: {handlers}"
    assert [attrs.get("src") for attrs in dom.tags("img")
            if not (attrs.get("src") or "").startswith("data:image/jpeg;base64,")] == []
    assert dom.tags("textarea") == [] and dom.tags("iframe") == [] and dom.tags("object") == []
    assert [attrs for attrs in dom.tags("svg") if "onload" in attrs] == []
    assert [attrs.get("href") for attrs in dom.tags("a") if not (attrs.get("href") or "").startswith("#")] == []
    assert [value for _, attrs in dom.elements for value in attrs.values()
            if value and re.search(r"javascript:|evil|pwned", value, re.IGNORECASE)] == []


def test_report_csp_pins_exactly_the_page_script(hostile_run: HostileRun) -> None:
    html = (hostile_run.run_dir / "report.html").read_text(encoding="utf-8")
    metas = [attrs for attrs in scan_dom(html).tags("meta") if attrs.get("http-equiv") == "Content-Security-Policy"]
    assert len(metas) == 1
    policy = dict(part.strip().split(" ", 1) for part in metas[0]["content"].split(";"))
    digest = base64.b64encode(hashlib.sha256(scan_dom(html).scripts[0].encode("utf-8")).digest()).decode("ascii")
    assert policy["script-src"] == f"'sha256-{digest}'"  # the one script, and nothing else, may run
    assert policy["default-src"] == "'none'" and policy["img-src"] == "data:" and policy["base-uri"] == "'none'"


def test_report_dom_after_scripts_ran_holds_no_payload_element(hostile_run: HostileRun, tmp_path: Path) -> None:
    """Chromium loads the page (CSP kept), runs its scripts under virtual time, and dumps the live DOM."""
    binary = chromium_binary()
    url = (hostile_run.run_dir / "report.html").resolve().as_uri()
    done = subprocess.run([binary, *chromium_flags(tmp_path / "profile"), "--virtual-time-budget=2000",
                           "--enable-logging=stderr", "--v=0", "--dump-dom", url],
                          capture_output=True, text=True, timeout=90, env=chromium_env())
    assert done.returncode == 0, done.stderr[-3000:]
    dumped = done.stdout
    assert "</html>" in dumped and "article" in dumped, f"Chromium dumped no page: {dumped[:500]!r}"
    assert title_of(dumped) == PAGE_TITLE
    dom = scan_dom(dumped)
    assert_no_live_payload(dom)
    assert_payloads_shown_as_text(dom)
    # The console: no script error and no CSP violation (neither from a payload nor from the page's own script).
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert [line for line in console if "Content Security Policy" in line or "Uncaught" in line] == []


# Fire every event a payload's handler could listen for, on every element (DevTools evaluation is not bound by the
# page's CSP, so this runs; a handler the payloads planted would run with it).
FIRE_EVERYTHING = """
(() => {
  let fired = 0;
  for (const element of document.querySelectorAll('*')) {
    for (const type of ['mouseover', 'mouseenter', 'focus', 'click', 'load', 'error', 'input']) {
      if (type === 'click' && element.closest('nav')) continue;  // the page's own anchors would scroll, harmless
      element.dispatchEvent(new Event(type));
      fired++;
    }
  }
  return fired;
})()
"""
SHOWN = "document.getElementById('sample-shown').textContent"
FILTER_BY_TEXT = ("(() => { const box = document.getElementById('sample-filter'); box.value = %s;"
                  " box.dispatchEvent(new Event('input')); })()")
FILTER_BY_OUTCOME = ("(() => { const menu = document.getElementById('sample-outcome'); menu.value = %s;"
                     " menu.dispatchEvent(new Event('change')); })()")
VISIBLE = "Array.from(document.querySelectorAll('article.sample')).filter(c => !c.hidden).length"


def test_report_page_script_runs_under_its_csp_and_no_payload_does(hostile_run: HostileRun, browser: DevTools) -> None:
    session = browser.open((hostile_run.run_dir / "report.html").resolve().as_uri())
    cards = browser.evaluate(session, "document.querySelectorAll('article.sample').length")
    assert cards == len(hostile_run.rows)
    assert browser.evaluate(session, FIRE_EVERYTHING) > 0
    assert browser.evaluate(session, "document.title") == PAGE_TITLE
    assert browser.evaluate(session, "document.querySelectorAll('script').length") == 1

    # The page's own filter script is allowed by the CSP and works: typing narrows the samples, and so does the
    # outcome menu. (Were it blocked, the count would stay at every sample.)
    assert browser.evaluate(session, SHOWN) == str(cards)
    browser.evaluate(session, FILTER_BY_TEXT % json.dumps(TEXTAREA))
    matching = sum(TEXTAREA in json.dumps(row) or TEXTAREA in RESPONSES.get(row["id"], "")
                   for row in hostile_run.rows)
    assert 0 < matching < cards
    assert browser.evaluate(session, VISIBLE) == matching
    assert browser.evaluate(session, SHOWN) == str(matching)
    browser.evaluate(session, FILTER_BY_TEXT % '""')
    browser.evaluate(session, FILTER_BY_OUTCOME % '"error"')
    assert browser.evaluate(session, SHOWN) == "1" and browser.evaluate(session, VISIBLE) == 1
    assert browser.problems(session) == []


def test_report_escaping_holds_even_without_the_csp(hostile_run: HostileRun, browser: DevTools,
                                                    tmp_path: Path) -> None:
    """The CSP is the second line: with it taken out of a copy of the page, the escaping alone keeps every payload
    inert (no title change, no dialog, no script error)."""
    html = (hostile_run.run_dir / "report.html").read_text(encoding="utf-8")
    bare, removed = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    assert removed == 1
    copy = tmp_path / "report-without-csp.html"
    copy.write_text(bare, encoding="utf-8")
    session = browser.open(copy.resolve().as_uri())
    assert browser.evaluate(session, FIRE_EVERYTHING) > 0
    assert browser.evaluate(session, "document.title") == PAGE_TITLE
    assert browser.evaluate(session, "document.querySelectorAll('script, iframe, textarea, object').length") == 1
    assert browser.evaluate(session, "document.querySelectorAll('img:not([src^=\"data:image/jpeg\"])').length") == 0
    assert browser.problems(session) == []


def test_browser_checks_can_fail(browser: DevTools, tmp_path: Path) -> None:
    """The checks above are not blind: an unescaped payload in a page without CSP changes the title and opens a
    dialog, and a script the CSP does not pin is reported as a violation."""
    page = tmp_path / "bad.html"
    page.write_text(f"<!doctype html><title>{PAGE_TITLE}</title><p>{ATTR}</p><p>{TEXTAREA}</p>", encoding="utf-8")
    session = browser.open(page.resolve().as_uri())
    assert browser.evaluate(session, "document.title") == "pwned"
    assert any(problem.startswith("dialog") for problem in browser.problems(session))
    pinned = tmp_path / "pinned.html"
    pinned.write_text("<!doctype html><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'sha256-"
                      "AAAA'\"><title>t</title><script>document.title='ran'</script>", encoding="utf-8")
    session = browser.open(pinned.resolve().as_uri())
    assert browser.evaluate(session, "document.title") == "t"
    assert any("Content Security Policy" in problem for problem in browser.problems(session))
    assert scan_dom(page.read_text()).tags("img") != []  # and the DOM scan sees the planted element


# ---- summary.md --------------------------------------------------------------------------------------------------


def test_summary_md_shows_payloads_as_text_only(hostile_run: HostileRun) -> None:
    markdown = (hostile_run.run_dir / "summary.md").read_text(encoding="utf-8")
    # What md_cell promises, on the raw text: outside backslash escapes there is no HTML, link or image syntax.
    unescaped = re.sub(r"\\.", "", markdown)
    assert "<" not in unescaped and "](" not in unescaped and "![" not in unescaped
    for name in hostile_run.gate_label_names:  # each payload-named gate check is listed, one table row per check
        assert sum(line.startswith("| ") and name.replace("\\", "") in unescape_markdown(line)
                   for line in markdown.splitlines()) >= 1, name

    from markdown_it import MarkdownIt  # CommonMark with tables, raw HTML allowed: an escape miss would show

    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    dom = scan_dom(rendered)
    assert dom.scripts == [] and dom.tags("img") == [] and dom.tags("a") == [] and dom.tags("svg") == []
    assert [name for _, attrs in dom.elements for name in attrs if name.lower().startswith("on")] == []
    text = dom.text
    assert MODEL_LABEL in text
    for name in hostile_run.gate_label_names:
        assert name in text, name
    assert len(dom.tags("tr")) >= len(hostile_run.gate_label_names) + 1  # no payload broke a table row apart


def unescape_markdown(line: str) -> str:
    return re.sub(r"\\(.)", r"\1", line)


# ---- junit.xml ---------------------------------------------------------------------------------------------------


def test_junit_xml_is_well_formed_and_carries_payloads_as_text(hostile_run: HostileRun) -> None:
    raw = (hostile_run.run_dir / "junit.xml").read_bytes()
    assert b"<![CDATA[" not in raw.replace(b"&lt;![CDATA[", b"")  # the writer uses no CDATA section to break out of
    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", raw)  # no character XML 1.0 forbids
    root = ET.fromstring(raw)  # expat: strict about well-formedness
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert "injected" not in cases  # the response's "</testcase><testcase ...>" stayed text
    suites = [suite for suite in root.iter("testsuite") if suite.get("name", "").startswith("shopbench.")]
    assert sum(int(suite.get("tests")) for suite in suites) == len(hostile_run.rows)
    for row in hostile_run.rows:
        name = row["id"] if len(row["id"]) <= 200 else row["id"][:200] + "…"
        assert name in cases, f"no test case named {row['id'][:40]!r}"

    mcq = cases[ID_MCQ].find("failure")
    assert mcq is not None and RESPONSES[ID_MCQ] in mcq.text and row_question(hostile_run, ID_MCQ) in mcq.text
    control = cases[ID_CONTROL].find("failure").text
    assert CDATA_BREAK in control and SCRIPT in control  # the CDATA/markup break-out attempt is plain text
    assert "\ufffd[31m" in control  # the forbidden characters are replaced, the rest of the response kept
    error = cases[ID_ERROR].find("error")
    assert error is not None and ERROR_MESSAGE in error.text and error.get("message").startswith("inference: ")
    gate = {case.get("name") for case in next(s for s in root.iter("testsuite") if s.get("name") == "gate")}
    for label_name in hostile_run.gate_label_names:
        assert any(label_name in name for name in gate), label_name
    # Attributes round-trip exactly: quotes and angle brackets in names are escaped, not cut.
    assert ID_OPEN_PASS in cases and '"><img' in ID_OPEN_PASS
    assert ID_OPEN_WRONG in cases and "' onmouseover='" in ID_OPEN_WRONG


def row_question(run: HostileRun, sample_id: str) -> str:
    return next(row["question"] for row in run.rows if row["id"] == sample_id)
