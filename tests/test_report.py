"""The change record of a full rehearsal, per topology: Markdown against golden files, HTML by parsing it.

Golden files hold normalised text (times, hashes and the sessions folder replaced). After a deliberate change
to the report, regenerate them with: RUNBOOK_UPDATE_GOLDEN=1 python -m pytest tests/test_report.py
"""
from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from runbook.cli import main
from runbook.errors import Refused
from runbook.record import store
from runbook.reports import change_record as report

GOLDEN = Path(__file__).parent / "golden"
TOPOLOGIES = ("tmg-eas", "tmg-seg-eas", "add-seg")
NASTY = "<script>alert('x')</script> & \"quoted\" | piped"


def full_run(sessions: Path, scenario: str, note: str = "checked in the TMG console") -> Path:
    """The whole change on the lab, as an operator does it: manual steps ticked and marked, the rest run."""
    assert main(["demo", "--scenario", scenario, "--init", "g"]) == 0
    path = sessions / "g.yaml"
    main(["verify", "g", "1"])  # what the listener looked like before (a mismatch is expected)
    assert main(["tick", "g", "1", "1"]) == 0
    assert main(["mark", "g", "1", "--done", "--note", note]) == 0
    assert main(["tick", "g", "2", "1"]) == 0
    for _ in range(3):  # add-seg: the cutover (2, 3a) and the clean-up (7) wait for the SEG side
        for key, record in store.load(path).steps.items():
            if record.state.value != "pending" or store.load(path).steps[key].state.value != "pending":
                continue
            if key == "2":
                main(["mark", "g", "2", "--done"])
            else:
                main(["run", "g", key, "--yes", "--allow-restart"])
    assert all(r.state.value in ("done", "manual-done", "not-applicable") for r in store.load(path).steps.values())
    assert main(["verify", "g"]) == 0
    assert main(["check", "g", "device"]) == 0  # the proof the change record ends with
    return path


def normalise(text: str, sessions: Path) -> str:
    text = text.replace(str(sessions), "<sessions>")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>", text)
    return re.sub(r"\b[0-9a-f]{64}\b", "<hash>", text)


def produce(sessions: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["report", "g", "--format", fmt]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("scenario", TOPOLOGIES)
def test_markdown_report_matches_the_golden_file(sessions_dir: Path, scenario: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    full_run(sessions_dir, scenario)
    text = normalise(produce(sessions_dir, "md", capsys), sessions_dir)
    golden = GOLDEN / f"report-{scenario}.md"
    if os.environ.get("RUNBOOK_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self.outside: list[str] = []  # any attribute that would fetch something
        self.open: list[str] = []
        self.balanced = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in ("meta", "br"):
            self.open.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in ("src", "href") or (name == "style" and value and "url(" in value):
                self.outside.append(f"{tag} {name}={value}")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.balanced = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("scenario", TOPOLOGIES)
def test_html_report_is_one_self_contained_page_with_every_value_escaped(sessions_dir: Path, scenario: str,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = full_run(sessions_dir, scenario, note=NASTY)
    out = sessions_dir.parent / "record.html"
    assert main(["report", "g", "--format", "html", "-o", str(out)]) == 0
    page_text = out.read_text(encoding="utf-8")
    page = Page()
    page.feed(page_text)
    page.close()
    assert page.balanced and not page.open
    assert page.tags[:5] == ["html", "head", "meta", "title", "style"]
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert page.outside == [] and "@import" not in page_text and "url(" not in page_text
    assert "@media print" in page_text
    session = store.load(path)
    assert [i for i in page.ids if i.startswith("step-")] == [f"step-{key}" for key in session.steps]
    for section in ("summary", "topology", "parameters", "steps", "events", "journal"):
        assert section in page.ids
    text = "".join(page.text)
    assert NASTY in text  # shown as text, exactly, having never become markup
    assert "&lt;script&gt;" in page_text and "<script>" not in page_text
    assert "chain intact" in text and store.load(path).params["public_name"] in text
    head = [line for line in text.splitlines() if "Head hash:" in line][0]
    assert re.search(r"[0-9a-f]{64}", head)


def test_markdown_keeps_operator_text_out_of_the_markup(sessions_dir: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    full_run(sessions_dir, "tmg-eas", note=NASTY)
    text = produce(sessions_dir, "md", capsys)
    assert "<script>" not in text
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; \"quoted\" \\| piped" in text


def test_a_broken_journal_is_in_the_record(sessions_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = full_run(sessions_dir, "tmg-eas")
    journal = store.journal_path(path)
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    journal.write_text("".join(lines[:3] + lines[4:]), encoding="utf-8")
    text = produce(sessions_dir, "md", capsys)
    assert "chain BROKEN" in text and "line 4: entry seq 5 where 4 was expected" in text


def test_no_secret_ever_reaches_a_report(sessions_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Refused, match="looks like a secret"):
        report.params_rows({"directory": {"bind_password": "x"}})
    monkeypatch.setenv("RUNBOOK_LDAP_PASSWORD", "Hunter2-secret")
    report.assert_no_secrets("nothing to see")
    with pytest.raises(Refused, match="RUNBOOK_LDAP_PASSWORD"):
        report.assert_no_secrets("bind with Hunter2-secret")
