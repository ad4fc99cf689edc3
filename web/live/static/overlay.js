// The overlay page: follows its session's stream and plays each effect in turn, never two
// at once. EventSource reconnects by itself after a dropped connection, sending the last
// entry it had (Last-Event-ID): the server sends exactly what was missed. An effect whose
// planned end is long past (a reconnection after a long outage) is skipped, not played late.
"use strict";

(function () {
  const STALE_MS = 30000;
  const sessionId = document.body.dataset.session;
  const token = new URLSearchParams(window.location.search).get("token") || "";
  const stage = document.getElementById("stage");
  const played = document.getElementById("played");
  const queue = [];
  let playing = false;

  function withToken(path) {
    return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  }

  function applyBrand(brand) {
    if (!brand) return;
    const style = document.body.style;
    if (brand.palette && brand.palette.length) style.setProperty("--accent", brand.palette[0]);
    if (brand.palette && brand.palette.length > 1) style.setProperty("--ink", brand.palette[1]);
    if (brand.typography && brand.typography.heading_font) {
      style.fontFamily = brand.typography.heading_font + ", system-ui, sans-serif";
    }
    if (brand.motion_intensity) style.setProperty("--speed", String(brand.motion_intensity / 3));
  }

  function show(entry) {
    const effect = entry.effect;
    const box = document.createElement("div");
    box.className = "effect " + (effect.animation || "upload");
    box.dataset.seq = String(entry.seq);
    if (effect.asset_url) {
      if (/\.(mp3|ogg|wav)$/i.test(effect.name) || effect.category === "sound") {
        const audio = new Audio(withToken(effect.asset_url));
        audio.play().catch(function () {});
      } else {
        const img = document.createElement("img");
        img.alt = "";
        img.src = withToken(effect.asset_url);
        box.appendChild(img);
      }
    }
    const text = document.createElement("span");
    text.textContent = entry.message || effect.name;  // text, never HTML
    box.appendChild(text);
    stage.replaceChildren(box);
    const item = document.createElement("li");
    item.dataset.seq = String(entry.seq);
    item.textContent = effect.name;
    played.appendChild(item);
    return box;
  }

  function next() {
    if (playing) return;
    const entry = queue.shift();
    if (!entry) return;
    if (Date.parse(entry.ends_at) < Date.now() - STALE_MS) {
      next();
      return;
    }
    playing = true;
    applyBrand(entry.brand);
    const box = show(entry);
    const duration = entry.effect.duration_ms;
    window.setTimeout(function () { box.classList.add("leaving"); }, Math.max(0, duration - 400));
    window.setTimeout(function () {
      box.remove();
      playing = false;
      next();
    }, duration);
  }

  const source = new EventSource(withToken("/api/v1/live/overlay/" + sessionId + "/events"));
  source.onopen = function () { document.body.dataset.state = "live"; };
  source.onerror = function () {
    // CLOSED: refused (a revoked link) or finished; otherwise EventSource is reconnecting.
    document.body.dataset.state = source.readyState === EventSource.CLOSED ? "closed" : "reconnecting";
  };
  source.addEventListener("effect", function (message) {
    queue.push(JSON.parse(message.data));
    next();
  });
  source.addEventListener("session_ended", function () {
    source.close();
    document.body.dataset.state = "ended";
  });
})();
