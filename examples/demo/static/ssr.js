// Server-rendered page: the HTML already shows the counter; connect() resumes
// the session named in #fluxlive-ssr and attach() returns the existing
// instance, so nothing is mounted or re-rendered until the state changes.
import { connect } from "/__live/client.js";

const live = connect();
window.live = live;
window.handles = {};

const statusEl = document.querySelector("[data-role=status]");
live.on("status", (s) => {
  statusEl.textContent = s;
  statusEl.dataset.status = s;
});

const h = await live.attach("ssr-counter");
window.handles.ssr = h;
const el = document.querySelector('[data-live-id="ssr-counter"]');
h.on("state", (s) => {
  el.querySelector("[data-role=count]").textContent = String(s.count);
  el.querySelector("[data-role=label]").textContent = s.label;
});
el.addEventListener("click", (e) => {
  const b = e.target.closest("[data-action]");
  if (b) h.call(b.dataset.action).catch((err) => console.warn(err.code, err.message));
});
el.dataset.attached = "true";
