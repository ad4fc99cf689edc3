// Backline's operations dashboard: log in, then poll the admin API every few seconds and
// redraw. Everything shown comes from /api/v1/admin/ops with the operator's bearer token.

import { Api, ApiError, OPS } from "./api.js";
import { confirmAction } from "./confirm.js";
import { $, number, show } from "./dom.js";
import { Jobs } from "./jobs.js";
import {
  renderAudit, renderCards, renderCharts, renderDeadLetter, renderLatency, renderQueues,
  renderSchedules, renderWorkers,
} from "./overview.js";

const POLL_MS = 4000;
const VIEWS = ["login-view", "denied-view", "dash-view"];

const api = new Api(() => showView("login-view"));
const jobs = new Jobs(api, act);
let timer = null;
let polling = false;
let again = false; // a refresh was asked for while one was under way
let noticeTimer = null;

function showView(name) {
  for (const view of VIEWS) show($(view), view === name);
  const signedIn = name !== "login-view";
  show($("who"), signedIn);
  show($("live"), name === "dash-view");
  if (name !== "dash-view") stopPolling();
  if (name === "login-view") {
    $("who-email").textContent = "";
    $("login-email").focus();
  }
}

function notify(message, tone = "info") {
  const notice = $("notice");
  notice.textContent = message;
  notice.className = `notice notice-${tone}`;
  show(notice, Boolean(message));
  clearTimeout(noticeTimer);
  if (message) noticeTimer = setTimeout(() => show(notice, false), 15000);
}

// -- signing in and out ------------------------------------------------------------------------
async function onLogin(event) {
  event.preventDefault();
  const error = $("login-error");
  show(error, false);
  try {
    await api.login($("login-email").value.trim(), $("login-password").value);
    $("login-password").value = "";
    await enter();
  } catch (e) {
    error.textContent = e instanceof ApiError && e.status === 401
      ? "That e-mail and password do not match an account."
      : `Could not log in: ${e.message}`;
    show(error, true);
  }
}

async function enter() {
  const me = await api.get("/api/v1/auth/me");
  $("who-email").textContent = me.email;
  if (!me.is_admin) {
    showView("denied-view");
    return;
  }
  await refresh();
}

async function onLogout() {
  stopPolling();
  await api.logout();
  notify("");
  showView("login-view");
}

// -- live refresh ------------------------------------------------------------------------------
async function refresh() {
  if (polling) {
    again = true;
    return;
  }
  polling = true;
  try {
    const [queues, stats, workers, dead, audit, schedules] = await Promise.all([
      api.get(`${OPS}/queues`), api.get(`${OPS}/stats?window=3600`), api.get(`${OPS}/workers`),
      api.get(`${OPS}/dead-letter`), api.get(`${OPS}/audit?limit=20`), api.get(`${OPS}/schedules`),
    ]);
    await Promise.all([jobs.refresh(), jobs.refreshDetail()]);
    showView("dash-view");
    renderCards(queues, stats, workers);
    renderQueues(queues, { onPause: pause, onResume: resume });
    renderCharts(stats);
    renderLatency(stats.latency);
    renderWorkers(workers, (id) => jobs.open(id));
    renderSchedules(schedules, (id) => jobs.open(id));
    renderDeadLetter(dead, { onRedriveKind: redriveKind, onShowKind: (k) => jobs.showKind(k.kind) });
    renderAudit(audit.items);
    setLive(`Live · updated ${new Date().toLocaleTimeString("en-GB", { hour12: false })}`, "ok");
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      showView("denied-view");
      return;
    }
    if (error instanceof ApiError && error.status === 401) return; // back at the login form
    setLive(`Not updating: ${error.message}`, "bad");
  } finally {
    polling = false;
  }
  schedule();
}

function setLive(text, tone) {
  const live = $("live");
  live.textContent = text;
  live.className = `live live-${tone}`;
}

function schedule() {
  clearTimeout(timer);
  if (!$("dash-view").hidden) timer = setTimeout(refresh, again ? 0 : POLL_MS);
  again = false;
}

function stopPolling() {
  clearTimeout(timer);
  timer = null;
}

// -- actions -----------------------------------------------------------------------------------
// Every action: the confirmation dialog, then the POST with {"confirm": true}, then a redraw.
async function act({ title, body, confirmLabel, danger, path, payload, done, report }) {
  const answer = await confirmAction({ title, body, confirmLabel, danger });
  if (!answer) return;
  try {
    const result = await api.post(path, { ...payload, confirm: true, reason: answer.reason });
    notify(report ? report(result) : `${confirmLabel}: done.`, "ok");
    if (done) await done(result);
  } catch (error) {
    notify(`${confirmLabel} failed: ${error.message}`, "bad");
  }
  await refresh();
}

function pause(queue) {
  return act({
    title: `Pause the ${queue.name} queue?`,
    body: "Workers stop starting its jobs; they stay queued and nothing is lost. Jobs already running finish.",
    confirmLabel: "Pause queue", danger: true,
    path: `${OPS}/queues/${encodeURIComponent(queue.name)}/pause`, payload: {},
  });
}

function resume(queue) {
  return act({
    title: `Resume the ${queue.name} queue?`,
    body: "Workers take its waiting jobs again within about ten seconds.",
    confirmLabel: "Resume queue",
    path: `${OPS}/queues/${encodeURIComponent(queue.name)}/resume`, payload: {},
  });
}

function redriveKind(kind) {
  return act({
    title: `Re-drive every failed ${kind.kind} job?`,
    body: `${number(kind.jobs)} failed job${kind.jobs === 1 ? "" : "s"} go back on the ${kind.queue} queue with fresh attempts, oldest first (at most 1,000 at a time).`,
    confirmLabel: "Re-drive all",
    path: `${OPS}/dead-letter/redrive`, payload: { kind: kind.kind, limit: 1000 },
    report: (r) => `Re-drove ${number(r.redriven)} job${r.redriven === 1 ? "" : "s"}; ${number(r.remaining)} still failed.`,
  });
}

// -- start -------------------------------------------------------------------------------------
$("login-form").addEventListener("submit", onLogin);
$("logout").addEventListener("click", onLogout);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && !$("dash-view").hidden) refresh();
});

if (api.signedIn) enter().catch(() => showView("login-view"));
else showView("login-view");
