"""``lastcall drill --html``: one self-contained page that draws the drill.

A restart is something people would rather look at than read. The page shows,
on one time axis (seconds since the drill began):

- **requests**: attempts started per time slice, stacked by outcome
  (succeeded, safely retried, lost);
- **latency**: every request as a dot at (start, duration), log scale, in the
  colour of its outcome;
- **client connections**: how many of the load's connections were usable and
  how many draining;
- **wire signals**: the GOAWAYs (with their ids), REFUSED_STREAM and other
  resets, ``Connection: close`` and connection ends that the probe and the
  load's client saw;
- **restarts**: a band across every lane from the signal (or the restart
  command's start) to the old server's exit (or the command's end).

Below the picture: the counts, the report card, the errors by kind, and every
wire signal in a table. The page needs no network: the data is embedded as
JSON and drawn into inline SVG by an inline script, so it opens from a file,
an artifact store or a mail attachment alike.

Counts are binned here (every attempt counts, however many there were);
successful dots are thinned to ``MAX_PLOTTED_REQUESTS`` so that a long drill
still opens quickly; failed attempts are always all drawn.
"""

from __future__ import annotations

import html
import json
from typing import Any

from .report import GOAWAY_ID_NAMES, DrillReport
from .timeline import OUTCOMES, Timeline

#: Most successful requests drawn as latency dots; beyond it every n-th one is
#: drawn (and the page says so). Failed attempts are never thinned.
MAX_PLOTTED_REQUESTS = 20_000

#: About how many time slices the request lane has.
TARGET_BINS = 120

_NICE_WIDTHS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


#: Fewest time slices, however slow the requests.
MIN_BINS = 20


def bin_width(span: float, typical_latency: float = 0.0) -> float:
    """A round slice width giving about ``TARGET_BINS`` slices over ``span`` seconds,
    and no narrower than a typical request (else workers that send in lockstep
    leave every other slice empty), unless that leaves fewer than ``MIN_BINS``."""
    wanted = max(span / TARGET_BINS, min(typical_latency, span / MIN_BINS))
    return next((w for w in _NICE_WIDTHS if w >= wanted), _NICE_WIDTHS[-1])


def page_data(report: DrillReport) -> dict[str, Any]:
    """Everything the page's script draws, as plain JSON-able data."""
    timeline = report.timeline or Timeline()
    span = max(
        [timeline.ended]
        + [r.start + r.duration for r in timeline.requests]
        + [m.end or m.start for m in timeline.markers]
        + [s.at for s in timeline.signals]
        + [0.001]
    )
    ok = sorted(r.duration for r in timeline.requests if r.outcome == "ok")
    width = bin_width(span, ok[len(ok) // 2] if ok else 0.0)
    count = int(span / width) + 1
    bins = {outcome: [0] * count for outcome in OUTCOMES}
    ok_total = sum(1 for r in timeline.requests if r.outcome == "ok")
    stride = max(1, -(-ok_total // MAX_PLOTTED_REQUESTS))
    points: list[list[Any]] = []
    ok_seen = 0
    for record in timeline.requests:
        bins[record.outcome][min(count - 1, int(record.start / width))] += 1
        if record.outcome == "ok":
            ok_seen += 1
            if ok_seen % stride:
                continue
        points.append(
            [round(record.start, 4), round(record.duration * 1000, 3), record.outcome, record.error]
        )
    data = timeline.to_json()
    del data["requests"]
    for signal in data["signals"]:
        # JavaScript numbers cannot hold 2^62-4 exactly: name the ids here.
        signal["id_label"] = GOAWAY_ID_NAMES.get(signal["ident"], str(signal["ident"]))
    data.update(
        span=span,
        bin_width=width,
        bins=bins,
        points=points,
        ok_stride=stride,
        summary={
            "command": report.command,
            "protocol": report.protocol,
            "restarts": report.restarts,
            "sent": report.sent,
            "succeeded": report.succeeded,
            "lost": report.lost,
            "safely_retried": report.safely_retried,
            "passed": report.passed,
            "latency_ms": report.latency_ms,
            "drain_latency_ms": report.drain_latency_ms,
            "errors": report.errors,
            "exit_seconds": report.exit_seconds,
            "restart_seconds": report.restart_seconds,
        },
        card=[[name, c.verdict, c.detail] for name, c in report.report_card.items()],
    )
    return data


def render_html(report: DrillReport) -> str:
    """The whole page as one string."""
    payload = json.dumps(page_data(report), separators=(",", ":"))
    # Inside <script> only "</" can end the element early; "<\\/" is the same JSON.
    payload = payload.replace("</", "<\\/")
    title = f"lastcall drill: {report.command}"
    return (
        _PAGE.replace("%TITLE%", html.escape(title))
        .replace("%STYLE%", _STYLE)
        .replace("%DATA%", payload)
        .replace("%SCRIPT%", _SCRIPT)
    )


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%TITLE%</title>
<style>%STYLE%</style>
</head>
<body data-rendered="no">
<header>
  <div class="brand">lastcall drill</div>
  <h1 id="command"></h1>
  <div id="verdict" class="verdict"></div>
</header>
<section id="stats" class="stats"></section>
<section class="panel">
  <div class="panel-head"><h2>Timeline</h2><div id="legend" class="legend"></div></div>
  <div id="chart"></div>
  <p id="chart-note" class="note"></p>
</section>
<div class="columns">
  <section class="panel"><h2>Report card</h2><table id="card"></table></section>
  <section class="panel"><h2>Errors by kind</h2><table id="errors"></table></section>
</div>
<section class="panel"><h2>Wire signals</h2><table id="signals"></table></section>
<footer>Written by <code>lastcall drill --html</code>. Times are seconds since the drill began.</footer>
<script id="drill-data" type="application/json">%DATA%</script>
<script>%SCRIPT%</script>
</body>
</html>
"""

_STYLE = """
:root { --ok:#2f9e62; --retried:#e3a21a; --lost:#d63447; --restart:#5b6ee1; --goaway:#7b3fbf;
  --conn:#2b7bd1; --drain:#b06fd6; --ink:#1d2433; --muted:#6b7385; --line:#e4e7ee; --bg:#f6f7fb; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 40px; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header { display: flex; align-items: center; gap: 16px; margin-bottom: 18px; flex-wrap: wrap; }
.brand { font-weight: 700; letter-spacing: .04em; text-transform: uppercase; font-size: 12px;
  color: #fff; background: var(--ink); padding: 4px 10px; border-radius: 6px; }
h1 { font-size: 15px; font-weight: 500; margin: 0; flex: 1; font-family: ui-monospace, monospace;
  color: var(--muted); overflow-wrap: anywhere; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  margin: 0 0 10px; }
.verdict { font-weight: 700; padding: 6px 14px; border-radius: 999px; color: #fff; }
.verdict.pass { background: var(--ok); } .verdict.fail { background: var(--lost); }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px;
  margin-bottom: 16px; }
.stat { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.stat .label { color: var(--muted); font-size: 12px; }
.stat .value { font-size: 22px; white-space: nowrap; font-weight: 650; font-variant-numeric: tabular-nums; }
.stat.bad .value { color: var(--lost); } .stat.good .value { color: var(--ok); }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px;
  margin-bottom: 16px; }
.panel-head { display: flex; justify-content: space-between; align-items: baseline; gap: 12px;
  flex-wrap: wrap; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; color: var(--muted); }
.legend .item { display: inline-flex; align-items: center; gap: 6px; }
.legend .swatch { width: 12px; height: 12px; border-radius: 3px; display: inline-block; }
.columns { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 900px) { .columns { grid-template-columns: 1fr; } }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
td, th { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 500; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pill { font-size: 11px; font-weight: 700; padding: 2px 8px; border-radius: 999px; color: #fff; }
.pill.pass { background: var(--ok); } .pill.fail { background: var(--lost); }
.pill.na { background: #9aa1b1; }
.note { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg .lane-title { font-weight: 600; fill: var(--ink); }
svg .grid { stroke: var(--line); }
footer { color: var(--muted); font-size: 12px; }
code { font-family: ui-monospace, monospace; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("drill-data").textContent);
  const s = data.summary;
  const NS = "http://www.w3.org/2000/svg";
  const COLOR = { ok: "var(--ok)", retried: "var(--retried)", lost: "var(--lost)" };
  const LABEL = { ok: "succeeded", retried: "safely retried", lost: "lost" };
  const el = (tag, attrs, text) => {
    const node = tag.includes(":") || ["svg", "g", "rect", "line", "path", "circle", "text",
      "polygon", "title", "polyline"].includes(tag)
      ? document.createElementNS(NS, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const fmt = (v, digits) => v === null || v === undefined ? "-" : Number(v).toFixed(digits);

  // -- header and counts ----------------------------------------------------------------
  document.getElementById("command").textContent = s.command + "  [" + s.protocol + "]";
  const verdict = document.getElementById("verdict");
  verdict.className = "verdict " + (s.passed ? "pass" : "fail");
  verdict.textContent = (s.passed ? "PASS" : "FAIL") + " \u00b7 " + s.lost + " lost";
  const stats = document.getElementById("stats");
  const stat = (id, label, value, tone) => {
    const box = el("div", { class: "stat " + (tone || "") });
    box.append(el("div", { class: "label" }, label), el("div", { class: "value", id: id }, value));
    stats.append(box);
  };
  stat("sent-count", "requests sent", s.sent);
  stat("ok-count", "succeeded", s.succeeded, "good");
  stat("lost-count", "lost", s.lost, s.lost ? "bad" : "good");
  stat("retried-count", "safely retried", s.safely_retried);
  stat("p50", "latency p50 / p99 ms", fmt(s.latency_ms.p50, 1) + " / " + fmt(s.latency_ms.p99, 1));
  stat("restart-count", "restarts", s.restarts);

  // -- the chart --------------------------------------------------------------------------
  const W = Math.max(760, document.getElementById("chart").clientWidth || 1100);
  const left = 64, right = 16, plotW = W - left - right;
  const lanes = [
    { key: "requests", title: "requests started / " + (data.bin_width * 1000).toFixed(0) + " ms", h: 130 },
    { key: "latency", title: "latency (ms, log)", h: 150 },
    { key: "conns", title: "client connections", h: 80 },
    { key: "wire", title: "wire signals", h: 70 },
  ];
  let y = 26;  // the restart labels sit above the first lane
  for (const lane of lanes) { lane.y = y; y += lane.h + 26; }
  const H = y + 14;
  const svg = el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, id: "timeline" });
  const x = t => left + (t / data.span) * plotW;

  // x grid and axis
  const step = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300].find(v => data.span / v <= 12) || 600;
  const grid = el("g", { class: "x-grid" });
  for (let t = 0; t <= data.span + 1e-9; t += step) {
    grid.append(el("line", { x1: x(t), x2: x(t), y1: 4, y2: H - 18, class: "grid" }));
    grid.append(el("text", { x: x(t), y: H - 4, "text-anchor": "middle" }, t.toFixed(step < 1 ? 1 : 0) + " s"));
  }
  svg.append(grid);

  // restarts: a band across every lane, from signal/command start to exit/command end
  const exits = {};
  for (const m of data.markers) if (m.kind === "exit") exits[m.restart] = m;
  const bands = el("g", { class: "restarts" });
  for (const m of data.markers.filter(m => m.kind === "restart")) {
    const end = m.end !== null ? m.end : (exits[m.restart] ? exits[m.restart].start : m.start);
    const g = el("g", { class: "restart-marker", "data-restart": m.restart + 1 });
    const x0 = x(m.start), x1 = Math.max(x(end), x0 + 2);
    g.append(el("rect", { x: x0, y: 2, width: x1 - x0, height: H - 22, fill: "var(--restart)",
      "fill-opacity": m.ok ? 0.09 : 0.16 }));
    g.append(el("line", { x1: x0, x2: x0, y1: 2, y2: H - 20, stroke: "var(--restart)",
      "stroke-width": 1.5, "stroke-dasharray": "4 3" }));
    g.append(el("text", { x: x0 + 4, y: 14, fill: "var(--restart)", style: "fill: var(--restart); font-weight: 600" },
      "restart " + (m.restart + 1) + (m.ok ? "" : " (failed)")));
    g.append(el("title", {}, m.label + "\n" + m.start.toFixed(3) + " s \u2192 " + end.toFixed(3) + " s"));
    bands.append(g);
  }
  for (const m of data.markers.filter(m => m.kind === "exit" || m.kind === "ready")) {
    const ready = m.kind === "ready";
    const g = el("g", { class: m.kind + "-marker" });
    g.append(el("line", { x1: x(m.start), x2: x(m.start), y1: 18, y2: H - 20,
      stroke: ready ? "var(--ok)" : m.ok ? "var(--restart)" : "var(--lost)", "stroke-width": 1.5,
      "stroke-dasharray": ready ? "2 3" : "" }));
    g.append(el("title", {}, (ready ? "restart " + (m.restart + 1) + ": " : "old server exited: ") + m.label));
    bands.append(g);
  }

  const laneFrame = lane => {
    const g = el("g", { class: "lane lane-" + lane.key });
    g.append(el("text", { x: left, y: lane.y + 10, class: "lane-title" }, lane.title));
    g.append(el("line", { x1: left, x2: W - right, y1: lane.y + lane.h, y2: lane.y + lane.h, class: "grid" }));
    svg.append(g);
    return g;
  };

  // lane 1: stacked request bars
  const req = lanes[0], gReq = laneFrame(req);
  const n = data.bins.ok.length;
  let peak = 1;
  for (let i = 0; i < n; i++) peak = Math.max(peak, data.bins.ok[i] + data.bins.retried[i] + data.bins.lost[i]);
  const barW = Math.max(1, plotW / (data.span / data.bin_width) - 1);
  const top = req.y + 18, usable = req.h - 18;
  for (let i = 0; i < n; i++) {
    let base = req.y + req.h;
    for (const o of ["ok", "retried", "lost"]) {
      const v = data.bins[o][i];
      if (!v) continue;
      const h = Math.max(1.5, (v / peak) * usable);
      base -= h;
      const r = el("rect", { x: x(i * data.bin_width), y: base, width: barW, height: h,
        fill: COLOR[o], class: "bar bar-" + o });
      r.append(el("title", {}, (i * data.bin_width).toFixed(2) + " s: " + v + " " + LABEL[o]));
      gReq.append(r);
    }
  }
  gReq.append(el("text", { x: left - 6, y: top + 4, "text-anchor": "end" }, String(peak)));
  gReq.append(el("text", { x: left - 6, y: req.y + req.h, "text-anchor": "end" }, "0"));

  // lane 2: latency dots, log scale
  const lat = lanes[1], gLat = laneFrame(lat);
  const durs = data.points.map(p => Math.max(p[1], 0.01));
  const lo = Math.max(0.1, Math.min(...durs, 1)), hi = Math.max(...durs, 10);
  const ly = v => lat.y + lat.h - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) /
    (Math.log10(hi) - Math.log10(lo) || 1)) * (lat.h - 18);
  for (let d = Math.pow(10, Math.ceil(Math.log10(lo))); d <= hi; d *= 10) {
    gLat.append(el("line", { x1: left, x2: W - right, y1: ly(d), y2: ly(d), class: "grid" }));
    gLat.append(el("text", { x: left - 6, y: ly(d) + 4, "text-anchor": "end" }, d >= 1000 ? (d / 1000) + "k" : String(d)));
  }
  const order = { ok: 0, retried: 1, lost: 2 };
  const sorted = data.points.slice().sort((a, b) => order[a[2]] - order[b[2]]);
  for (const p of sorted) {
    const c = el("circle", { cx: x(p[0]), cy: ly(Math.max(p[1], 0.01)), r: p[2] === "ok" ? 1.6 : 3,
      fill: COLOR[p[2]], "fill-opacity": p[2] === "ok" ? 0.45 : 0.9, class: "dot dot-" + p[2] });
    if (p[2] !== "ok") c.append(el("title", {}, LABEL[p[2]] + ": " + p[3] + " after " + p[1].toFixed(1) + " ms"));
    gLat.append(c);
  }

  // lane 3: client connections (usable, draining) as steps
  const con = lanes[2], gCon = laneFrame(con);
  const maxConn = Math.max(1, ...data.connections.map(c => c[1] + c[2]));
  const cy = v => con.y + con.h - (v / maxConn) * (con.h - 18);
  const steps = idx => {
    let d = "";
    data.connections.forEach((c, i) => { d += (i ? " L" : "M") + x(c[0]).toFixed(1) + " " + cy(c[idx]).toFixed(1); });
    return d;
  };
  if (data.connections.length) {
    gCon.append(el("path", { d: steps(1), fill: "none", stroke: "var(--conn)", "stroke-width": 1.8, class: "conn-open" }));
    gCon.append(el("path", { d: steps(2), fill: "none", stroke: "var(--drain)", "stroke-width": 1.8, class: "conn-draining" }));
  }
  gCon.append(el("text", { x: left - 6, y: cy(maxConn) + 4, "text-anchor": "end" }, String(maxConn)));
  gCon.append(el("text", { x: left - 6, y: cy(0), "text-anchor": "end" }, "0"));

  // lane 4: wire signals: probe on the upper row, load's client on the lower
  const wire = lanes[3], gWire = laneFrame(wire);
  const rowY = { probe: wire.y + 32, load: wire.y + 56 };
  gWire.append(el("text", { x: left - 6, y: rowY.probe + 4, "text-anchor": "end" }, "probe"));
  gWire.append(el("text", { x: left - 6, y: rowY.load + 4, "text-anchor": "end" }, "load"));
  const lastLabelX = { probe: -1e9, load: -1e9 };
  let lastLabel = null;
  for (const sgn of data.signals) {
    const cx = x(sgn.at), cyw = rowY[sgn.source] || rowY.probe;
    let shape;
    if (sgn.kind === "goaway") {
      shape = el("polygon", { points: [cx, cyw - 6, cx + 6, cyw, cx, cyw + 6, cx - 6, cyw].join(" "),
        fill: "var(--goaway)", class: "goaway-marker", "data-id": sgn.ident });
      if (sgn.source === "probe") {
        const name = sgn.id_label;
        if (cx - lastLabelX.probe > 60) {
          lastLabel = el("text", { x: cx, y: cyw - 10, "text-anchor": "middle", class: "goaway-label" }, "id " + name);
          gWire.append(lastLabel);
          lastLabelX.probe = cx;
        } else if (lastLabel) {
          lastLabel.textContent += " \u2192 " + name;  // first and final GOAWAY, close together
        }
      }
    } else if (sgn.kind === "refused" || sgn.kind === "reset") {
      shape = el("polygon", { points: [cx - 5, cyw + 5, cx + 5, cyw + 5, cx, cyw - 5].join(" "),
        fill: sgn.kind === "refused" ? "var(--retried)" : "var(--lost)", class: sgn.kind + "-marker" });
    } else if (sgn.kind === "connection_close") {
      shape = el("rect", { x: cx - 4, y: cyw - 4, width: 8, height: 8, fill: "var(--conn)", class: "close-header-marker" });
    } else {
      const bad = /reset|without/.test(sgn.detail);
      shape = el("circle", { cx: cx, cy: cyw, r: 4.5, fill: "#fff", stroke: bad ? "var(--lost)" : "var(--ink)",
        "stroke-width": 2, class: "closed-marker" });
    }
    shape.append(el("title", {}, sgn.at.toFixed(3) + " s  " + sgn.source + ": " + sgn.detail));
    gWire.append(shape);
  }
  svg.insertBefore(bands, svg.firstChild.nextSibling);
  document.getElementById("chart").append(svg);
  const thinned = data.ok_stride > 1 ? " One in " + data.ok_stride + " successful requests is drawn as a dot; every failed one is." : "";
  document.getElementById("chart-note").textContent =
    "Bands: restarts (signal \u2192 the old server's exit, or the restart command's run). Hover any mark for details." + thinned;

  // legend
  const legend = document.getElementById("legend");
  const item = (color, label, shape) => {
    const it = el("span", { class: "item" });
    const sw = el("span", { class: "swatch" });
    sw.style.background = color;
    if (shape === "diamond") sw.style.transform = "rotate(45deg) scale(.8)";
    if (shape === "band") { sw.style.opacity = ".35"; sw.style.border = "1px dashed var(--restart)"; }
    if (shape === "dash") { sw.style.height = "3px"; }
    it.append(sw, document.createTextNode(label));
    legend.append(it);
  };
  item("var(--ok)", "succeeded");
  item("var(--retried)", "safely retried / REFUSED");
  item("var(--lost)", "lost / reset");
  const started = data.markers.some(m => m.kind === "exit");
  item("var(--restart)", started ? "restart \u2192 old server's exit" : "restart command", "band");
  if (data.markers.some(m => m.kind === "ready")) item("var(--ok)", "replacement answers", "dash");
  item("var(--goaway)", "GOAWAY (id)", "diamond");
  item("var(--conn)", "connections open");
  item("var(--drain)", "draining");

  // -- tables -------------------------------------------------------------------------------
  const card = document.getElementById("card");
  card.innerHTML = "<tr><th>check</th><th>verdict</th><th>detail</th></tr>";
  for (const [name, v, detail] of data.card) {
    const tr = el("tr", { class: "check check-" + (v === "n/a" ? "na" : v) });
    const pill = el("span", { class: "pill " + (v === "n/a" ? "na" : v) }, v.toUpperCase());
    const td = el("td"); td.append(pill);
    tr.append(el("td", {}, name), td, el("td", {}, detail));
    card.append(tr);
  }
  const errors = document.getElementById("errors");
  errors.innerHTML = "<tr><th>outcome: error</th><th>count</th></tr>";
  const errs = Object.entries(s.errors).sort((a, b) => b[1] - a[1]);
  if (!errs.length) { const tr = el("tr"); tr.append(el("td", { colspan: 2 }, "none")); errors.append(tr); }
  for (const [name, count] of errs) {
    const tr = el("tr"); tr.append(el("td", {}, name), el("td", { class: "num" }, count)); errors.append(tr);
  }
  const sig = document.getElementById("signals");
  sig.innerHTML = "<tr><th>time</th><th>seen by</th><th>signal</th></tr>";
  for (const x2 of data.signals.slice().sort((a, b) => a.at - b.at)) {
    const tr = el("tr", { class: "signal-row" });
    tr.append(el("td", { class: "num" }, x2.at.toFixed(3) + " s"),
      el("td", {}, x2.source + (x2.source === "load" ? " #" + x2.connection : "")), el("td", {}, x2.detail));
    sig.append(tr);
  }
  document.body.setAttribute("data-rendered", "yes");
})();
"""
