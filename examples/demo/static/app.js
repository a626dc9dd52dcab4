// fluxlive demo page: plain DOM rendered from server state.
// DOM contract used by the browser tests: every component root carries
// data-live-id; counters show [data-role=count] and have
// [data-action=increment|decrement]; window.live and window.handles are exposed.
import { connect } from "/__live/client.js";

const $ = (root, sel) => root.querySelector(sel);

// retry: a click caught by a dropped connection is resent (with its idempotency key) rather than lost.
const live = connect({ retry: true });
/** Instance handles by id, for tests and for poking at from the console. */
const handles = {};
window.live = live;
window.handles = handles;

// ---- connection status ----

const statusEl = $(document, "[data-role=status]");
const showStatus = (s) => {
  statusEl.textContent = s;
  statusEl.dataset.status = s;
};
showStatus(live.status);
live.on("status", showStatus);

// DevTools link: the client announces the debug channel when the server enables it.
const devtoolsLink = $(document, "[data-role=devtools-link]");
function showDevtoolsLink() {
  const a = window.__FLUXLIVE__;
  if (!a?.debug?.token) return;
  devtoolsLink.href = `/__live/devtools?token=${encodeURIComponent(a.debug.token)}`;
  devtoolsLink.hidden = false;
}
window.addEventListener("message", (e) => {
  if (e.source === window && e.data?.source === "fluxlive-page" && e.data.type === "announce") showDevtoolsLink();
});

// ---- action errors ----

const errorList = $(document, "[data-role=errors]");
const noErrors = $(document, "[data-role=no-errors]");
const MAX_ERRORS = 8;

function reportError(err) {
  const li = document.createElement("li");
  li.dataset.code = err.code;
  const code = document.createElement("code");
  code.textContent = err.code;
  const what = [err.component, err.method].filter(Boolean).join(".");
  // Server messages usually name component and method already.
  const prefix = what && !err.message.includes(what) ? `${what}: ` : "";
  li.append(code, ` ${prefix}${err.message}`);
  errorList.prepend(li);
  while (errorList.children.length > MAX_ERRORS) errorList.lastElementChild.remove();
  noErrors.hidden = true;
}
live.on("error", reportError);
$(document, "[data-action=clear-errors]").addEventListener("click", () => {
  errorList.replaceChildren();
  noErrors.hidden = false;
});

// Runs an action; its failure lands in the error list instead of the console.
const act = (h, method, ...args) => h.call(method, ...args).catch(reportError);

// ---- counters ----

const counterTpl = $(document, "#counter-tpl");
const counters = $(document, "#counters");

function renderCounter(el, h) {
  $(el, "[data-role=label]").textContent = h.state.label;
  $(el, "[data-role=count]").textContent = String(h.state.count);
  $(el, "[data-role=version]").textContent = `v${h.version}`;
}

async function mountCounter(props, id, withErrors = false) {
  const el = counterTpl.content.firstElementChild.cloneNode(true);
  $(el, "[data-role=error-actions]").hidden = !withErrors;
  counters.append(el);
  const h = await live.mount("Counter", props, { id, el });
  handles[h.id] = h;
  renderCounter(el, h);
  h.on("state", () => renderCounter(el, h));
  h.on("error", reportError);
  for (const name of ["increment", "decrement", "reset", "fail", "explode"]) {
    $(el, `[data-action=${name}]`).addEventListener("click", () => act(h, name));
  }
  return h;
}

// ---- todo list ----

const todoEl = $(document, "#todo-card");
const todoForm = $(todoEl, "[data-role=new-form]");
const todoInput = $(todoEl, "[data-role=new-todo]");
const todoError = $(todoEl, "[data-role=error]");

function renderTodos(h) {
  const { title, items } = h.state;
  $(todoEl, "[data-role=title]").textContent = title;
  $(todoEl, "[data-role=version]").textContent = `v${h.version}`;
  const rows = items.map((item) => {
    const li = document.createElement("li");
    li.dataset.itemId = String(item.id);
    li.classList.toggle("done", item.done);
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = item.done;
    box.dataset.action = "toggle";
    box.setAttribute("aria-label", `Done: ${item.text}`);
    box.addEventListener("change", () => act(h, "toggle", item.id));
    const text = document.createElement("span");
    text.dataset.role = "text";
    text.textContent = item.text;
    const rm = document.createElement("button");
    rm.type = "button";
    rm.className = "link";
    rm.dataset.action = "remove";
    rm.textContent = "remove";
    rm.setAttribute("aria-label", `Remove ${item.text}`);
    rm.addEventListener("click", () => act(h, "remove", item.id));
    li.append(box, text, rm);
    return li;
  });
  $(todoEl, "[data-role=items]").replaceChildren(...rows);
  const left = items.filter((i) => !i.done).length;
  $(todoEl, "[data-role=remaining]").textContent = `${left} left of ${items.length}`;
}

function showFieldError(message) {
  todoError.textContent = message || "";
  todoError.hidden = !message;
  todoInput.setAttribute("aria-invalid", message ? "true" : "false");
}

async function mountTodos() {
  const h = await live.mount("TodoList", { title: "Todos" }, { id: "todos", el: todoEl });
  handles[h.id] = h;
  renderTodos(h);
  h.on("state", () => renderTodos(h));
  h.on("error", reportError);
  todoForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await h.call("add", todoInput.value);
      todoInput.value = "";
      showFieldError(null);
    } catch (err) {
      // Validation errors name the field; show them under the input.
      if (err.code === "action_failed" && err.detail?.field === "text") showFieldError(err.detail.message || err.message);
      else reportError(err);
    }
  });
  todoInput.addEventListener("input", () => showFieldError(null));
  $(todoEl, "[data-action=clear-done]").addEventListener("click", () => act(h, "clear_done"));
  return h;
}

// ---- mount everything (pipelined behind hello: no round trip each) ----

window.ready = Promise.all([
  mountCounter({}),
  mountCounter({ start: 100, step: 10, label: "By tens" }),
  mountCounter({ start: 10, step: 5, label: "Hero" }, "hero", true),
  mountTodos(),
]).catch((err) => {
  reportError(err);
  throw err;
});
