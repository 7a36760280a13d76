"""``drill --html``: the page's data, and what a real browser shows of a real drill.

The browser test runs one drill from the CLI against a deployment restarted
from outside (``service.py``): the first restart replaces a server that drops
its connections (requests are lost), the second a server that drains by the
book (GOAWAYs). Headless chromium then loads the page from the file, runs its
script, and the test reads the DOM chromium produced: how many restart bands
are drawn, the lost count displayed, the legend, the GOAWAY marks. One
chromium launch; skipped when chromium is not installed.
"""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from html.parser import HTMLParser

import pytest

from lastcall.drill.html_report import MAX_PLOTTED_REQUESTS, bin_width, page_data, render_html
from lastcall.drill.process import free_port
from lastcall.drill.report import DrillReport
from lastcall.drill.timeline import Timeline

SERVICE = pathlib.Path(__file__).with_name("service.py")

#: The machine notes' flags for a headless chromium that talks to nobody.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _report_with(timeline: Timeline, lost: int = 0) -> DrillReport:
    report = DrillReport(protocol="h2", command="test", restarts=1, lost=lost)
    report.timeline = timeline
    return report


def test_every_attempt_is_counted_and_only_successes_are_thinned() -> None:
    timeline = Timeline(started_at=0.0)
    total_ok = MAX_PLOTTED_REQUESTS * 3
    for i in range(total_ok):
        timeline.request(i * 1e-4, i * 1e-4 + 0.01, "ok")
    for i in range(50):
        timeline.request(1.0 + i * 1e-3, 1.1 + i * 1e-3, "lost", "ConnectionLost")
        timeline.request(1.0 + i * 1e-3, 1.0 + i * 1e-3, "retried", "ConnectError")
    timeline.ended = 7.0
    data = page_data(_report_with(timeline, lost=50))
    assert sum(data["bins"]["ok"]) == total_ok
    assert sum(data["bins"]["lost"]) == 50
    assert sum(data["bins"]["retried"]) == 50
    plotted = Counter(p[2] for p in data["points"])
    assert plotted["lost"] == 50 and plotted["retried"] == 50
    assert plotted["ok"] == total_ok // data["ok_stride"] <= MAX_PLOTTED_REQUESTS
    assert data["bin_width"] == bin_width(7.0, 0.01) == 0.1
    # Slices are no narrower than a typical request, within limits.
    assert bin_width(7.0, 0.2) == 0.2 and bin_width(7.0, 30.0) == 0.5


def test_goaway_ids_are_named_in_python_and_script_cannot_end_early() -> None:
    timeline = Timeline(started_at=0.0)
    timeline.wire(1.0, "probe", "goaway", "GOAWAY", 2**62 - 4)
    timeline.wire(1.1, "probe", "goaway", "GOAWAY </script><b>x</b>", 2**31 - 1)
    data = page_data(_report_with(timeline))
    assert [s["id_label"] for s in data["signals"]] == ["2^62-4", "2^31-1"]
    page = render_html(_report_with(timeline))
    assert page.count("</script>") == 2  # the data's own "</script>" was escaped
    embedded = page.split('type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded)["signals"][1]["detail"].endswith("</script><b>x</b>")


class _Dom(HTMLParser):
    """What a test needs from chromium's serialized DOM: classes, ids and their text."""

    def __init__(self) -> None:
        super().__init__()
        self.classes: Counter[str] = Counter()
        self.text_by_id: dict[str, str] = {}
        self.body_attrs: dict[str, str | None] = {}
        self._stack: list[str | None] = []
        self.texts_by_class: dict[str, list[str]] = {}
        self._class_stack: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "body":
            self.body_attrs = attributes
        classes = (attributes.get("class") or "").split()
        self.classes.update(classes)
        self._stack.append(attributes.get("id"))
        self._class_stack.append(classes)
        if tag in ("meta", "br", "input", "link"):
            self._stack.pop()
            self._class_stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()
            self._class_stack.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._stack:
            if ident:
                self.text_by_id[ident] = self.text_by_id.get(ident, "") + data
        for classes in self._class_stack:
            for name in classes:
                self.texts_by_class.setdefault(name, []).append(data)


@pytest.mark.peer("chromium")
def test_chromium_shows_restarts_losses_goaways_and_legend(tmp_path: pathlib.Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    port = free_port()
    state = tmp_path / "service"
    state.mkdir()
    base = [sys.executable, str(SERVICE)]
    where = ["--state", str(state), "--port", str(port)]

    def server(mode: str) -> str:
        return f"{sys.executable} -m lastcall.testing.drill_servers --port {port} --mode {mode}"

    def restart_into(mode: str) -> str:
        return shlex.join([*base, "restart", *where, "--command", server(mode)])

    html_path, json_path = tmp_path / "report.html", tmp_path / "report.json"
    subprocess.run([*base, "start", *where, "--command", server("drop")], check=True, timeout=60)
    try:
        drill = subprocess.run(
            [
                sys.executable, "-m", "lastcall", "drill",
                "--url", f"http://127.0.0.1:{port}/slow?ms=100",
                # Restart 1 replaces the dropping server (losses), restart 2 the good one (GOAWAYs).
                "--restart", restart_into("good"),
                "--restart", restart_into("drop"),
                "--restarts", "2", "--duration", "2", "--settle", "0.5",
                "--concurrency", "6", "--no-progress",
                "--html", str(html_path), "--json", str(json_path),
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        subprocess.run([*base, "stop", *where], check=True, timeout=60)
    assert drill.returncode == 1, drill.stdout + drill.stderr  # losses fail the drill
    report = json.loads(json_path.read_text())
    assert report["lost"] > 0, drill.stdout
    page = html_path.read_text()
    assert "http://" not in page.replace(f"http://127.0.0.1:{port}", "").replace(
        "http://www.w3.org/2000/svg", ""
    ), "the page must not load anything from the network"
    embedded = json.loads(page.split('type="application/json">', 1)[1].split("</script>", 1)[0])
    goaways = [s for s in embedded["signals"] if s["kind"] == "goaway"]
    assert len([s for s in goaways if s["source"] == "probe"]) >= 2
    # The JSON and the table carry the same wire signals as the page.
    assert len(report["wire_signals"]) == len(embedded["signals"])
    assert "probe GOAWAY ids 2^31-1" in drill.stdout

    with tempfile.TemporaryDirectory(prefix="lastcall-chromium-") as profile:
        shown = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--window-size=1280,1400", "--dump-dom", html_path.as_uri()],
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = _Dom()
    dom.feed(shown.stdout)
    assert dom.body_attrs.get("data-rendered") == "yes", "the page's script did not finish"
    assert dom.classes["restart-marker"] == 2
    assert dom.text_by_id["restart-count"].strip() == "2"
    assert dom.text_by_id["lost-count"].strip() == str(report["lost"])
    assert dom.text_by_id["verdict"].startswith("FAIL")
    assert dom.classes["bar-lost"] >= 1  # the loss is drawn, not only counted
    assert dom.classes["dot-lost"] == report["lost"]
    assert dom.classes["goaway-marker"] == len(goaways)
    labels = " ".join(dom.texts_by_class.get("goaway-label", []))
    assert "2^31-1" in labels and re.search(r"2\^31-1 \u2192 \d+", labels), labels
    legend = " ".join(dom.texts_by_class.get("item", []))
    for entry in ("succeeded", "safely retried", "lost", "restart", "GOAWAY (id)", "draining"):
        assert entry in legend, legend
    assert dom.classes["check"] == len(report["report_card"])
    assert dom.classes["check-fail"] >= 1
