// The confirmation step of every operator action: a <dialog> of the page's own (not
// window.confirm), which says what will happen and takes an optional reason for the audit log.

import { $ } from "./dom.js";

// Resolves to {reason} when the operator confirms, to null when they back out.
export function confirmAction({ title, body, confirmLabel, danger = false }) {
  const dialog = $("confirm-dialog");
  const ok = $("confirm-ok");
  const reason = $("confirm-reason");
  $("confirm-title").textContent = title;
  $("confirm-body").textContent = body;
  ok.textContent = confirmLabel;
  ok.className = danger ? "btn btn-danger" : "btn btn-primary";
  reason.value = "";

  return new Promise((resolve) => {
    const finish = (answer) => {
      $("confirm-form").removeEventListener("submit", onSubmit);
      $("confirm-cancel").removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      finish({ reason: reason.value.trim() || undefined });
    };
    const onCancel = (event) => {
      event.preventDefault();
      finish(null);
    };
    $("confirm-form").addEventListener("submit", onSubmit);
    $("confirm-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel); // Escape
    dialog.showModal();
    ok.focus();
  });
}
