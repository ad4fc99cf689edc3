// Building the page from data without ever parsing it as HTML.
//
// Job params, errors and results are user-controlled: every value reaches the page through
// textContent or setAttribute, never innerHTML.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "data") Object.assign(node.dataset, value);
    else if (typeof value === "function") node.addEventListener(key.replace(/^on/, ""), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (id) => document.getElementById(id);

export function show(node, visible) {
  node.hidden = !visible;
}

// A table: header cells (a string, or [label, "num"] for right-aligned figures), rows of
// cells (a value or a node), and what to say when there are none.
export function fillTable(table, columns, rows, empty) {
  const head = el("thead", {}, el("tr", {}, columns.map((c) => headCell(c))));
  const body = el("tbody");
  if (rows.length === 0) {
    body.append(el("tr", { class: "empty" }, el("td", { colspan: columns.length, text: empty })));
  }
  for (const row of rows) body.append(row instanceof Node ? row : tableRow(columns, row));
  table.replaceChildren(head, body);
}

function headCell(column) {
  const [label, kind] = Array.isArray(column) ? column : [column, ""];
  return el("th", { class: kind || undefined, scope: "col", text: label });
}

export function tableRow(columns, cells, props = {}) {
  return el(
    "tr",
    props,
    cells.map((cell, i) => {
      const kind = Array.isArray(columns[i]) ? columns[i][1] : "";
      return el("td", { class: kind || undefined }, cell instanceof Node ? cell : text(cell));
    }),
  );
}

const text = (value) => (value === null || value === undefined || value === "" ? "—" : String(value));

export function statusBadge(status) {
  return el("span", { class: `badge st-${status}`, text: status });
}

export function number(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString("en-GB");
}

export function seconds(value) {
  if (value === null || value === undefined) return "—";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(value < 10 ? 2 : 1)} s`;
  if (value < 7200) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

export function percent(value) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)} %`;
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  const time = date.toLocaleTimeString("en-GB", { hour12: false });
  return sameDay ? time : `${date.toLocaleDateString("en-GB")} ${time}`;
}

export function ago(iso) {
  if (!iso) return "—";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

// Ids are UUIDv7: the first digits are a timestamp, shared by jobs made together, so the short
// form keeps the random tail as well.
export const shortId = (id) => (id ? `${String(id).slice(0, 8)}…${String(id).slice(-4)}` : "—");

export function pretty(value) {
  return value === null || value === undefined ? "—" : JSON.stringify(value, null, 2);
}
