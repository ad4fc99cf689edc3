// The figures an operator watches: summary cards, queues, charts, latency, workers, the
// periodic jobs, the dead-letter set and the audit log. Each function redraws one part from one API answer.

import { barChart, legend } from "./charts.js";
import {
  $, ago, el, fillTable, number, percent, seconds, shortId, statusBadge, tableRow, when,
} from "./dom.js";

const THROUGHPUT = [
  { key: "succeeded", label: "succeeded", cls: "fill-ok" },
  { key: "failed", label: "failed", cls: "fill-bad" },
  { key: "cancelled", label: "cancelled", cls: "fill-muted" },
];

function card(label, value, note, tone = "") {
  return el("div", { class: `card ${tone}` },
    el("div", { class: "card-label", text: label }),
    el("div", { class: "card-value", text: value }),
    el("div", { class: "card-note", text: note }));
}

export function renderCards(queues, stats, workers) {
  const sum = (key) => queues.reduce((n, q) => n + (q[key] || 0), 0);
  const finished = stats.throughput.reduce((n, b) => n + b.succeeded + b.failed + b.cancelled, 0);
  const failed = stats.throughput.reduce((n, b) => n + b.failed, 0);
  const decided = stats.throughput.reduce((n, b) => n + b.failed + b.succeeded, 0);
  const rate = decided ? failed / decided : null;
  const dead = sum("dead_letter");
  const paused = queues.filter((q) => q.paused).length;
  $("cards").replaceChildren(
    card("Waiting", number(sum("queued")), `${number(sum("delayed"))} delayed`),
    card("In flight", number(sum("running")), `${number(sum("retrying"))} waiting to retry`),
    card("Dead letter", number(dead), dead ? "failed jobs to look at" : "nothing failed", dead ? "tone-bad" : ""),
    card("Finished, last hour", number(finished), `${number(failed)} failed · ${percent(rate)}`, failed ? "tone-warn" : ""),
    card("Workers alive", number(workers.length), workers.length ? `${number(workers.reduce((n, w) => n + w.jobs.length, 0))} jobs running` : "no worker is running", workers.length ? "" : "tone-bad"),
    card("Queues paused", number(paused), paused ? "work is held back" : "all queues running", paused ? "tone-warn" : ""),
  );
}

const QUEUE_COLUMNS = ["Queue", "State", ["Depth", "num"], ["Queued", "num"], ["In flight", "num"],
  ["Delayed", "num"], ["Retrying", "num"], ["Dead letter", "num"], ""];

export function renderQueues(queues, { onPause, onResume }) {
  const rows = queues.map((q) => {
    const state = q.paused
      ? el("span", { class: "badge st-paused", text: "paused", title: q.pause_reason || "" })
      : el("span", { class: "badge st-running", text: "running" });
    const action = q.paused
      ? el("button", { type: "button", class: "btn btn-small", text: "Resume", onclick: () => onResume(q) })
      : el("button", { type: "button", class: "btn btn-small btn-quiet", text: "Pause", onclick: () => onPause(q) });
    return tableRow(QUEUE_COLUMNS, [
      el("strong", { text: q.name }), state, number(q.depth), number(q.queued), number(q.running),
      number(q.delayed), number(q.retrying), deadCell(q.dead_letter), action,
    ], { data: { queue: q.name } });
  });
  fillTable($("queues"), QUEUE_COLUMNS, rows, "No queues are declared.");
}

const deadCell = (n) => el("span", { class: n ? "bad" : "", text: number(n) });

export function renderCharts(stats) {
  barChart($("throughput-chart"), stats.throughput, {
    series: THROUGHPUT, title: "Jobs finished per minute", empty: "No job finished in the last hour.",
    yFormat: (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)),
  });
  legend($("throughput-legend"), THROUGHPUT);
  const rates = stats.throughput.map((b) => ({ minute: b.minute, rate: b.failure_rate || 0 }));
  barChart($("failure-chart"), rates, {
    series: [{ key: "rate", label: "failed", cls: "fill-bad" }], yMax: 1,
    title: "Failure rate per minute", empty: "No failures in the last hour.",
    yFormat: (v) => `${Math.round(v * 100)} %`,
  });
  const failed = stats.throughput.reduce((n, b) => n + b.failed, 0);
  const done = stats.throughput.reduce((n, b) => n + b.failed + b.succeeded, 0);
  $("failure-note").textContent = done
    ? `${failed} of ${done} jobs failed over the hour (${percent(failed / done)}).`
    : "No job succeeded or failed in the last hour.";
}

const LATENCY_COLUMNS = ["Kind", ["Jobs", "num"], ["Wait p50", "num"], ["Wait p95", "num"],
  ["Run p50", "num"], ["Run p95", "num"]];

export function renderLatency(latency) {
  const rows = latency.map((k) => [
    k.kind, number(k.jobs), seconds(k.wait_p50_s), seconds(k.wait_p95_s), seconds(k.run_p50_s),
    seconds(k.run_p95_s),
  ]);
  fillTable($("latency"), LATENCY_COLUMNS, rows, "No job finished in the last hour.");
}

const WORKER_COLUMNS = ["Worker", "Queues", "Up since", "Last seen", "Running now"];

export function renderWorkers(workers, openJob) {
  const rows = workers.map((w) => [
    el("span", { class: "mono", text: w.worker_id }),
    w.queues.join(", "),
    when(w.started_at),
    ago(w.last_seen),
    w.jobs.length
      ? el("div", { class: "job-links" }, w.jobs.map((j) => jobLink(j, openJob, `${j.kind} ${shortId(j.id)}`)))
      : el("span", { class: "muted", text: "idle" }),
  ]);
  fillTable($("workers"), WORKER_COLUMNS, rows, "No worker is alive: jobs wait until one starts.");
}

const SCHEDULE_COLUMNS = ["Periodic job", "Runs", "Queue", "Last slot", "Last run", "Next slot"];

export function renderSchedules(schedules, openJob) {
  const rows = schedules.map((s) => [
    el("span", { class: "mono", text: s.name, title: s.description || "" }),
    s.every,
    s.queue,
    s.last_slot_at ? when(s.last_slot_at) : el("span", { class: "muted", text: "not yet" }),
    s.last_job_id
      ? el("div", { class: "job-links" },
        jobLink({ id: s.last_job_id }, openJob, shortId(s.last_job_id)),
        s.last_job_status ? statusBadge(s.last_job_status) : "")
      : el("span", { class: "muted", text: "—" }),
    when(s.next_slot_at),
  ]);
  fillTable($("schedules"), SCHEDULE_COLUMNS, rows, "No periodic job is declared.");
}

export function jobLink(job, openJob, label) {
  return el("button", { type: "button", class: "link mono", text: label, data: { jobId: job.id }, onclick: () => openJob(job.id) });
}

const DEAD_COLUMNS = ["Kind", "Queue", ["Failed jobs", "num"], "Oldest failure", "Newest failure", ""];

export function renderDeadLetter(kinds, { onRedriveKind, onShowKind }) {
  const rows = kinds.map((k) => tableRow(DEAD_COLUMNS, [
    el("button", { type: "button", class: "link", text: k.kind, onclick: () => onShowKind(k) }),
    k.queue, deadCell(k.jobs), when(k.oldest_failed_at), when(k.newest_failed_at),
    el("button", { type: "button", class: "btn btn-small", text: `Re-drive all ${number(k.jobs)}`, onclick: () => onRedriveKind(k) }),
  ], { data: { kind: k.kind } }));
  fillTable($("dead-letter"), DEAD_COLUMNS, rows, "The dead-letter set is empty: no job has failed for good.");
}

const AUDIT_COLUMNS = ["When", "Who", "Action", "Target", "Details"];

export function renderAudit(items) {
  const rows = items.map((e) => [
    when(e.at), e.actor_email || (e.actor_id ? shortId(e.actor_id) : "deleted account"),
    el("span", { class: "mono", text: e.action }), el("span", { class: "mono", text: e.target }),
    auditDetails(e.details || {}),
  ]);
  fillTable($("audit"), AUDIT_COLUMNS, rows, "No operator has acted yet.");
}

function auditDetails(details) {
  const parts = [];
  if (details.count !== undefined) parts.push(`${details.count} job${details.count === 1 ? "" : "s"}`);
  if (details.previous_status) parts.push(`was ${details.previous_status}`);
  if (details.changed === false) parts.push("no change");
  if (details.reason) parts.push(`reason: ${details.reason}`);
  return parts.join(" · ") || "—";
}

export { statusBadge };
