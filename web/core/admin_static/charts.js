// Per-minute bar charts drawn as inline SVG (no library: the page loads nothing from outside).
//
// Colours come from CSS classes, labels from textContent, so the strict CSP holds.

const NS = "http://www.w3.org/2000/svg";
const W = 640;
const H = 200;
const PAD = { left: 44, right: 10, top: 12, bottom: 26 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= value) return m * step;
  return 10 * step;
}

const clock = (iso) =>
  new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false });

// buckets: [{minute, ...}]; series: [{key, label, cls}] stacked bottom-up; yMax fixes the scale.
export function barChart(container, buckets, { series, yMax, yFormat = String, empty, title }) {
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "bars",
    role: "img",
    "aria-label": title,
  });
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const totals = buckets.map((b) => series.reduce((sum, s) => sum + (b[s.key] || 0), 0));
  const top = yMax ?? niceMax(Math.max(0, ...totals));
  const y = (v) => PAD.top + plotH - (v / top) * plotH;

  for (const tick of [0, 0.5, 1]) {
    const value = top * tick;
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(value), y2: y(value), class: "gridline" }));
    root.append(svg("text", { x: PAD.left - 6, y: y(value) + 4, class: "axis", "text-anchor": "end" }, yFormat(value)));
  }

  const slot = plotW / Math.max(1, buckets.length);
  const barW = Math.max(1, slot * 0.72);
  buckets.forEach((bucket, i) => {
    let base = 0;
    const x = PAD.left + i * slot + (slot - barW) / 2;
    const group = svg("g");
    for (const s of series) {
      const v = bucket[s.key] || 0;
      if (v <= 0) continue;
      group.append(svg("rect", { x, y: y(base + v), width: barW, height: Math.max(1, y(base) - y(base + v)), class: s.cls }));
      base += v;
    }
    if (group.childNodes.length) {
      const parts = series.map((s) => `${yFormat(bucket[s.key] || 0)} ${s.label}`).join(", ");
      group.append(svg("title", {}, `${clock(bucket.minute)} — ${parts}`));
      root.append(group);
    }
  });

  if (buckets.length) {
    const first = buckets[0].minute;
    const last = buckets[buckets.length - 1].minute;
    root.append(svg("text", { x: PAD.left, y: H - 8, class: "axis" }, clock(first)));
    root.append(svg("text", { x: W - PAD.right, y: H - 8, class: "axis", "text-anchor": "end" }, clock(last)));
  }
  if (totals.every((t) => t === 0)) {
    root.append(svg("text", { x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, class: "chart-empty", "text-anchor": "middle" }, empty));
  }
  container.replaceChildren(root);
}

export function legend(container, series) {
  container.replaceChildren(
    ...series.map((s) => {
      const item = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = `swatch ${s.cls}`;
      item.append(swatch, s.label);
      return item;
    }),
  );
}
