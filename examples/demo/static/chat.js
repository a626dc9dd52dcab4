// Chat page: mounts the shared Chat for ?room=… (the room name is the
// shared instance id) and renders its messages. Messages sent while offline
// wait in the client's queue, and persistQueue keeps them across a reload.
import { connect } from "/__live/live.js";
import { persistQueue } from "/__live/live-extras.js";

const $ = (sel) => document.querySelector(sel);
const room = new URLSearchParams(location.search).get("room") || "lobby";

const live = connect();
window.live = live;
window.handles = {};

const statusEl = $("[data-role=status]");
live.on("status", (s) => {
  statusEl.textContent = s;
  statusEl.dataset.status = s;
});

const card = $("#chat");
$("[data-role=room]").textContent = `Room ${room}`;
const list = $("[data-role=messages]");
const errorEl = $("[data-role=error]");

function render(h) {
  card.dataset.liveId = h.id;
  $("[data-role=version]").textContent = `v${h.version}`;
  list.replaceChildren(
    ...h.state.messages.map((m) => {
      const li = document.createElement("li");
      const who = document.createElement("strong");
      who.textContent = m.author;
      li.append(who, `: ${m.text}`);
      return li;
    }),
  );
}

const chat = await live.mount("Chat", {}, { id: room, el: card });
window.handles.chat = chat;
render(chat);
chat.on("state", () => render(chat));
// After the mount, so replayed posts reach this room.
const saved = persistQueue(live, sessionStorage, `fluxlive-chat:${room}`);
window.replayed = saved.done;

$("[data-role=post]").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.currentTarget;
  errorEl.hidden = true;
  const text = form.text.value;
  form.text.value = "";
  try {
    await chat.call("post", form.author.value, text);
  } catch (err) {
    if (err.code === "closed") return;
    errorEl.textContent = err.detail?.message || err.message;
    errorEl.hidden = false;
  }
});
document.body.dataset.ready = "true";
