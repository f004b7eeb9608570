// The passport page's drawings: the lifelong timeline (zoom, pan, filters) and the charts, as SVG.
// Data comes from <script id="passport-data" type="application/json"> rendered by the server.
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const DAY = 86400000;
  const data = JSON.parse(document.getElementById("passport-data").textContent);
  const labels = data.labels;
  const css = getComputedStyle(document.documentElement);
  const colour = (kind) => css.getPropertyValue("--" + kind).trim() || "#888";

  function esc(text) {
    return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }
  function time(day) { return Date.parse(day + "T00:00:00Z"); }

  // ---- timeline -------------------------------------------------------------------------------
  const svg = document.getElementById("timeline-svg");
  const counter = document.getElementById("event-count");
  const detail = document.getElementById("event-detail");
  const kinds = data.kinds;
  const events = data.events.map((e, index) => ({
    index, kind: e.k, start: time(e.s), end: e.e ? time(e.e) : null, label: e.t, where: e.d, id: e.id, s: e.s, e: e.e,
  }));
  const lifeStart = time(data.birth || (events.length ? events[0].s : data.end));
  const lifeEnd = Math.max(time(data.end), ...events.map((e) => e.end || e.start)) + DAY;
  const shown = new Set(kinds);
  const view = { from: lifeStart - 30 * DAY, to: lifeEnd + 30 * DAY };
  const LANE = 30, TOP = 26, LEFT = 150;

  function ticks(from, to) {
    const years = (to - from) / (365.25 * DAY);
    const step = [1, 2, 5, 10, 20].find((s) => years / s <= 14) || 20;
    const found = [];
    if (years < 2) {
      const d = new Date(from); d.setUTCDate(1); d.setUTCHours(0, 0, 0, 0);
      const months = years < 0.5 ? 1 : 3;
      while (d.getTime() <= to) {
        if (d.getTime() >= from && d.getUTCMonth() % months === 0) {
          found.push([d.getTime(), d.toISOString().slice(0, 7)]);
        }
        d.setUTCMonth(d.getUTCMonth() + 1);
      }
      return found;
    }
    for (let y = Math.ceil(new Date(from).getUTCFullYear() / step) * step; ; y += step) {
      const t = Date.UTC(y, 0, 1);
      if (t > to) break;
      if (t >= from) found.push([t, String(y)]);
    }
    return found;
  }

  function drawTimeline() {
    const width = Math.max(svg.clientWidth || svg.parentNode.clientWidth || 800, 320);
    const lanes = kinds.filter((k) => shown.has(k));
    const height = TOP + Math.max(lanes.length, 1) * LANE + 10;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.style.height = height + "px";
    const scale = (width - LEFT - 10) / (view.to - view.from);
    const x = (t) => LEFT + (t - view.from) * scale;
    const parts = [];
    for (const [t, text] of ticks(view.from, view.to)) {
      parts.push(`<line class="tick" x1="${x(t)}" x2="${x(t)}" y1="${TOP - 6}" y2="${height}"/>`);
      parts.push(`<text class="tick-label" x="${x(t) + 3}" y="${TOP - 10}">${text}</text>`);
    }
    let visible = 0;
    lanes.forEach((kind, lane) => {
      const y = TOP + lane * LANE + LANE / 2;
      parts.push(`<text class="lane-label" x="6" y="${y + 4}">${esc(labels[kind])}</text>`);
      const fill = colour(kind);
      for (const e of events) {
        if (e.kind !== kind) continue;
        const last = e.end || e.start;
        if (last < view.from || e.start > view.to) continue;
        visible += 1;
        const x0 = x(e.start);
        if (e.end && (e.end - e.start) * scale > 6) {
          const x1 = Math.min(x(e.end), width);
          parts.push(`<rect class="event" data-i="${e.index}" data-kind="${kind}" x="${x0}" y="${y - 7}" width="${x1 - x0}" height="14" rx="3" fill="${fill}" fill-opacity=".55"/>`);
        } else {
          parts.push(`<circle class="event" data-i="${e.index}" data-kind="${kind}" cx="${x0}" cy="${y}" r="5" fill="${fill}" fill-opacity=".8"/>`);
        }
      }
    });
    svg.innerHTML = parts.join("");
    counter.textContent = String(visible);
    svg.dataset.rendered = String(visible);
  }

  function zoom(factor, centre) {
    const span = view.to - view.from;
    const middle = centre === undefined ? view.from + span / 2 : centre;
    const next = Math.min(Math.max(span * factor, 14 * DAY), (lifeEnd - lifeStart) * 1.5 + 60 * DAY);
    const ratio = (middle - view.from) / span;
    view.from = middle - next * ratio;
    view.to = view.from + next;
    drawTimeline();
  }

  document.getElementById("zoom-in").addEventListener("click", () => zoom(0.5));
  document.getElementById("zoom-out").addEventListener("click", () => zoom(2));
  document.getElementById("zoom-reset").addEventListener("click", () => {
    view.from = lifeStart - 30 * DAY; view.to = lifeEnd + 30 * DAY; drawTimeline();
  });
  const timeAt = (clientX) => {
    const box = svg.getBoundingClientRect();
    return view.from + ((clientX - box.left - LEFT) / (box.width - LEFT - 10)) * (view.to - view.from);
  };
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoom(event.deltaY < 0 ? 0.8 : 1.25, timeAt(event.clientX));
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (event) => { drag = { x: event.clientX, from: view.from, to: view.to }; });
  window.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const box = svg.getBoundingClientRect();
    const shift = ((event.clientX - drag.x) / (box.width - LEFT - 10)) * (drag.to - drag.from);
    if (Math.abs(event.clientX - drag.x) < 3) return;
    view.from = drag.from - shift; view.to = drag.to - shift;
    drawTimeline();
  });
  svg.addEventListener("click", (event) => {
    const target = event.target.closest(".event");
    if (!target) return;
    const e = events[Number(target.dataset.i)];
    detail.hidden = false;
    detail.innerHTML = `<strong>${esc(labels[e.kind])}</strong> · ${esc(e.s)}${e.e ? " – " + esc(e.e) : ""}` +
      `<br>${esc(e.label)}${e.where ? " · " + esc(e.where) : ""}`;
  });
  for (const box of document.querySelectorAll("input[data-kind]")) {
    box.addEventListener("change", () => {
      if (box.checked) shown.add(box.dataset.kind); else shown.delete(box.dataset.kind);
      drawTimeline();
    });
  }
  window.addEventListener("resize", drawTimeline);

  // ---- charts ---------------------------------------------------------------------------------
  function chart(figure, series, options) {
    const target = figure.querySelector("svg");
    const width = Math.max(target.clientWidth || 420, 280), height = 220;
    const pad = { left: 44, right: 12, top: 12, bottom: 26 };
    target.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const points = series.flatMap((s) => s.points);
    if (!series.some((s) => s.points.length && !s.reference)) {
      target.innerHTML = `<text class="no-data" x="${width / 2}" y="${height / 2}" text-anchor="middle">${esc(labels["no-data"])}</text>`;
      target.dataset.points = "0";
      return;
    }
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    const margin = (y1 - y0) * 0.1 || 1; y0 -= margin; y1 += margin;
    const X = (v) => pad.left + ((v - x0) / (x1 - x0)) * (width - pad.left - pad.right);
    const Y = (v) => height - pad.bottom - ((v - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
    const parts = [];
    for (let i = 0; i <= 4; i++) {
      const v = y0 + ((y1 - y0) * i) / 4;
      parts.push(`<line class="grid" x1="${pad.left}" x2="${width - pad.right}" y1="${Y(v)}" y2="${Y(v)}"/>`);
      parts.push(`<text class="axis" x="${pad.left - 4}" y="${Y(v) + 4}" text-anchor="end">${v.toFixed(v < 20 ? 1 : 0)}</text>`);
    }
    parts.push(`<text class="axis" x="${pad.left}" y="${height - 6}">${esc(options.format(x0))}</text>`);
    parts.push(`<text class="axis" x="${width - pad.right}" y="${height - 6}" text-anchor="end">${esc(options.format(x1))}</text>`);
    let drawn = 0;
    for (const s of series) {
      if (!s.points.length) continue;
      const line = s.points.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
      parts.push(`<polyline points="${line}" fill="none" stroke="${s.colour}" stroke-width="${s.reference ? 1 : 1.6}"${s.reference ? ' stroke-dasharray="4 3"' : ""}/>`);
      if (!s.reference) {
        drawn += s.points.length;
        if (s.points.length <= 400) {
          for (const p of s.points) parts.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="2.5" fill="${s.colour}"/>`);
        }
      }
    }
    target.innerHTML = parts.join("");
    target.dataset.points = String(drawn);
  }

  function drawCharts() {
    const c = data.charts;
    const byDate = (rows, column) => rows.map((r) => [time(r[0]), r[column]]);
    const dateFormat = (t) => new Date(t).toISOString().slice(0, 10);
    const monthFormat = (m) => `${m.toFixed(0)} ${labels["age-months"]}`;
    const figure = (name) => document.querySelector(`.chart[data-chart="${name}"]`);
    chart(figure("pressure"), [
      { points: byDate(c.pressure, 1), colour: "#c0392b" },
      { points: byDate(c.pressure, 2), colour: "#2e86de" },
    ], { format: dateFormat });
    chart(figure("hba1c"), [{ points: byDate(c.hba1c, 1), colour: "#16a085" }], { format: dateFormat });
    const growth = (points, curves) => [
      ...curves.map((curve) => ({ points: curve, colour: "#9aa5b1", reference: true })),
      { points, colour: "#8e44ad" },
    ];
    if (figure("weight")) {
      chart(figure("weight"), growth(c.weight, c.weightReference), { format: monthFormat });
      chart(figure("height"), growth(c.height, c.heightReference), { format: monthFormat });
    }
  }

  drawTimeline();
  drawCharts();
  window.addEventListener("resize", drawCharts);
  document.body.dataset.ready = "true";
})();
