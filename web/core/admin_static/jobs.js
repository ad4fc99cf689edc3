// The job search and the job detail view, with the actions an operator takes on one job.

import { OPS } from "./api.js";
import {
  $, el, fillTable, number, pretty, seconds, shortId, show, statusBadge, tableRow, when,
} from "./dom.js";

const JOB_COLUMNS = ["Job", "Kind", "Queue", "Status", "Organisation", ["Attempts", "num"],
  "Created", "Finished"];
const UNFINISHED = new Set(["queued", "running"]);

export class Jobs {
  // act({title, body, confirmLabel, danger, path, payload, done}) runs a confirmed action.
  constructor(api, act) {
    this.api = api;
    this.act = act;
    this.query = new URLSearchParams({ limit: "25" });
    this.items = [];
    this.cursor = null;
    this.pages = 1;
    this.openId = null;
    $("search-form").addEventListener("submit", (e) => this.onSearch(e));
    $("search-form").addEventListener("reset", () => setTimeout(() => this.search(new URLSearchParams()), 0));
    $("jobs-more").addEventListener("click", () => this.more());
  }

  onSearch(event) {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(event.target)) {
      const v = String(value).trim();
      if (!v) continue;
      params.set(key, key.startsWith("created_") ? new Date(v).toISOString() : v);
    }
    this.search(params);
  }

  async search(params) {
    params.set("limit", "25");
    this.query = params;
    this.pages = 1;
    await this.refresh();
  }

  showKind(kind) {
    const form = $("search-form");
    form.reset();
    form.elements.kind.value = kind;
    form.elements.status.value = "failed";
    setTimeout(() => {
      this.search(new URLSearchParams({ kind, status: "failed" }));
      $("jobs-title").scrollIntoView({ behavior: "smooth" });
    }, 0);
  }

  // The first page again (live); once the operator has paged back, the list holds still.
  async refresh() {
    if (this.pages > 1) return;
    try {
      const page = await this.api.get(`${OPS}/jobs?${this.query}`);
      this.items = page.items;
      this.cursor = page.next_cursor;
      show($("search-error"), false);
      this.renderList();
    } catch (error) {
      if (error.status !== 422) throw error;
      $("search-error").textContent = `The search is not valid: ${fieldErrors(error.body)}`;
      show($("search-error"), true);
    }
  }

  async more() {
    const query = new URLSearchParams(this.query);
    query.set("cursor", this.cursor);
    const page = await this.api.get(`${OPS}/jobs?${query}`);
    this.items = this.items.concat(page.items);
    this.cursor = page.next_cursor;
    this.pages += 1;
    this.renderList();
  }

  renderList() {
    const filtered = [...this.query.keys()].some((k) => k !== "limit");
    const rows = this.items.map((j) => tableRow(JOB_COLUMNS, [
      el("button", { type: "button", class: "link mono", text: shortId(j.id), title: j.id, onclick: () => this.open(j.id) }),
      j.kind, j.queue, statusBadge(j.status), el("span", { class: "mono", text: j.org_id ? shortId(j.org_id) : "platform", title: j.org_id || "the platform's own job" }),
      `${j.attempts} / ${j.max_attempts}`, when(j.created_at), when(j.finished_at),
    ], { data: { jobId: j.id }, class: j.id === this.openId ? "selected" : undefined }));
    const empty = filtered ? "No job matches this search." : "No job has been submitted yet.";
    fillTable($("jobs"), JOB_COLUMNS, rows, empty);
    show($("jobs-more"), Boolean(this.cursor));
  }

  async open(id) {
    this.openId = id;
    this.renderList();
    await this.refreshDetail();
    $("job-detail").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  close() {
    this.openId = null;
    show($("job-detail"), false);
    this.renderList();
  }

  async refreshDetail() {
    if (!this.openId) return;
    try {
      this.renderDetail(await this.api.get(`${OPS}/jobs/${this.openId}`));
    } catch (error) {
      if (error.status !== 404) throw error;
      this.openId = null;
      show($("job-detail"), false);
    }
  }

  renderDetail({ job, events }) {
    const panel = $("job-detail");
    panel.replaceChildren(
      el("div", { class: "detail-head" },
        el("h2", { id: "detail-title" }, "Job ", el("span", { class: "mono", text: job.id })),
        statusBadge(job.status),
        el("div", { class: "detail-actions" }, this.actions(job),
          el("button", { type: "button", class: "btn btn-quiet", text: "Close", onclick: () => this.close() }))),
      facts(job),
      section("Parameters", el("pre", { class: "code", id: "detail-params", text: pretty(job.params) })),
      job.error ? errorSection(job.error) : null,
      section("Result", job.result === null || job.result === undefined
        ? el("p", { class: "muted", text: noResult(job.status) })
        : el("pre", { class: "code", id: "detail-result", text: pretty(job.result) })),
      section("History", eventsTable(events)),
    );
    show(panel, true);
  }

  actions(job) {
    const buttons = [];
    const run = (spec) => this.act({ ...spec, done: () => this.refreshDetail() });
    if (job.status === "failed") {
      buttons.push(button("Re-drive", "btn-primary", () => run({
        title: "Re-drive this job from the dead-letter queue?",
        body: `Job ${job.id} (${job.kind}) goes back on the ${job.queue} queue with fresh attempts.`,
        confirmLabel: "Re-drive", path: `${OPS}/dead-letter/redrive`, payload: { job_ids: [job.id] },
      })));
    }
    if (job.status === "failed" || job.status === "cancelled") {
      buttons.push(button("Retry", "", () => run({
        title: "Retry this job?",
        body: `Job ${job.id} (${job.kind}, now ${job.status}) runs again with fresh attempts.`,
        confirmLabel: "Retry", path: `${OPS}/jobs/${job.id}/retry`, payload: {},
      })));
    }
    if (UNFINISHED.has(job.status)) {
      buttons.push(button("Cancel job", "btn-danger", () => run({
        title: "Cancel this job?",
        body: job.status === "running"
          ? `Job ${job.id} (${job.kind}) is asked to stop at its next checkpoint.`
          : `Job ${job.id} (${job.kind}) will not run.`,
        confirmLabel: "Cancel job", danger: true, path: `${OPS}/jobs/${job.id}/cancel`, payload: {},
      })));
    }
    return buttons;
  }
}

function noResult(status) {
  if (status === "succeeded") return "The job returned nothing.";
  if (status === "failed" || status === "cancelled") return `No result: the job ${status}.`;
  return "No result yet.";
}

function button(label, cls, onclick) {
  return el("button", { type: "button", class: `btn ${cls}`, text: label, onclick });
}

function section(title, ...content) {
  return el("div", { class: "detail-section" }, el("h3", { text: title }), ...content);
}

function facts(job) {
  const p = job.progress || {};
  const progress = p.total
    ? `${number(p.done)} of ${number(p.total)} (${Math.round(p.percent ?? (100 * p.done) / p.total)} %)`
    : p.done ? `${number(p.done)} done` : "—";
  const rows = [
    ["Kind", job.kind], ["Queue", job.queue],
    ["Organisation", job.org_id || "the platform's own (periodic)"], ["Submitted by", job.owner_id || "the scheduler"],
    ["Attempts", `${job.attempts} of ${job.max_attempts}${job.crashes ? ` · ${job.crashes} crashed` : ""}`],
    ["Progress", p.message ? `${progress} · ${p.message}` : progress],
    ["Worker", job.worker_id || "—"], ["Created", when(job.created_at)], ["Run after", when(job.run_after)],
    ["Started", when(job.started_at)], ["Finished", when(job.finished_at)],
    ["Run time", job.started_at && job.finished_at ? seconds((new Date(job.finished_at) - new Date(job.started_at)) / 1000) : "—"],
    ["Request id", job.request_id || "—"], ["Cancel requested", job.cancel_requested ? "yes" : "no"],
  ];
  return el("dl", { class: "facts" }, rows.map(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
}

function errorSection(error) {
  return section("Error",
    el("p", { class: "error-line", id: "detail-error" },
      el("strong", { text: error.type || "Error" }), ": ", error.message || "",
      error.transient ? el("span", { class: "badge st-retrying", text: "transient" }) : null),
    error.traceback
      ? el("details", { open: true }, el("summary", { text: "Traceback" }),
          el("pre", { class: "code traceback", id: "detail-traceback", text: error.traceback }))
      : el("p", { class: "muted", text: "No traceback was recorded." }));
}

function eventsTable(events) {
  const table = el("table", { class: "grid", id: "detail-events" });
  const columns = ["When", "Event", "Message", "Data"];
  const rows = events.map((e) => [
    when(e.at), el("span", { class: "mono", text: e.type }), e.message,
    e.data && Object.keys(e.data).length ? el("code", { text: JSON.stringify(e.data) }) : "—",
  ]);
  fillTable(table, columns, rows, "No event recorded.");
  return el("div", { class: "table-wrap" }, table);
}

function fieldErrors(body) {
  const fields = (body && body.details && body.details.fields) || {};
  const parts = Object.entries(fields).map(([k, v]) => `${k}: ${[].concat(v).join(", ")}`);
  return parts.join("; ") || (body && body.message) || "invalid";
}
