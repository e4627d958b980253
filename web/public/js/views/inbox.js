// The bell in the header and its panel: the signed-in user's inbox (guests too), live from two
// Firestore listeners on users/{uid}/notifications (the newest WINDOW, and the unread count), so
// the badge and the list change the moment the server writes, without polling or reloads.
// Opening a notification marks it read (POST /me/notifications/{id}/read); "Mark all read" too.
import { post } from "../api.js";
import { el } from "../dom.js";
import {
  BADGE_CAP,
  WINDOW,
  badgeText,
  bellLabel,
  fromDocs,
  isUnread,
  markedRead,
  relativeTime,
  toDate,
} from "../notifications.js";
import { watchNotifications, watchUnread } from "../session.js";

const state = { uid: null, items: [], loaded: false, problem: null, stops: [], ticker: null };
let parts = null;

/** Build the bell and its panel once, in the header's `#inbox` box. */
export function startInbox() {
  const box = document.getElementById("inbox");
  const count = el("span", { class: "badge", "data-testid": "bell-count", hidden: true });
  const bell = el(
    "button",
    {
      type: "button",
      class: "bell",
      id: "bell",
      "data-testid": "bell",
      "aria-label": bellLabel(0),
      "aria-expanded": "false",
      "aria-controls": "inbox-panel",
      onclick: () => toggle(),
    },
    el("img", { class: "bell-icon", src: "/images/bell.svg", alt: "", width: "20", height: "20" }),
    count,
  );
  // Said once per change by screen readers (the button's own name is only read on focus).
  const spoken = el("span", { class: "visually-hidden", "aria-live": "polite", "aria-atomic": "true" });
  const list = el("ul", { class: "notes", "data-testid": "notifications" });
  const note = el("p", { class: "muted", "data-testid": "inbox-note" });
  const markAll = el(
    "button",
    { type: "button", class: "link", "data-testid": "mark-all-read", onclick: () => markAllRead() },
    "Mark all read",
  );
  const panel = el(
    "section",
    { id: "inbox-panel", class: "inbox-panel", role: "region", "aria-label": "Notifications", hidden: true, tabindex: "-1" },
    el(
      "div",
      { class: "inbox-head" },
      el("h2", {}, "Notifications"),
      markAll,
      el("a", { href: "#/settings", onclick: () => close() }, "Settings"),
    ),
    note,
    list,
  );
  box.replaceChildren(bell, spoken, panel);
  // Escape closes an open panel wherever the focus is (a button just disabled drops it to the
  // page) and gives the focus back to the bell.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || panel.hidden) return;
    close();
    bell.focus();
  });
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !box.contains(event.target)) close();
  });
  parts = { box, bell, count, spoken, list, note, markAll, panel };
}

/** Follow `user`'s inbox (null: signed out — stop listening and hide the bell). */
export function inboxFor(user) {
  const uid = user?.uid ?? null;
  if (uid === state.uid) return;
  for (const stop of state.stops) stop();
  Object.assign(state, { uid, items: [], loaded: false, problem: null, stops: [] });
  close();
  parts.box.hidden = !uid;
  setCount(0);
  render();
  if (!uid) return;
  const stopped = (error) => {
    state.problem = `Live updates stopped (${error.message}).`;
    render();
  };
  state.stops = [
    watchNotifications(
      uid,
      WINDOW,
      (docs) => {
        if (state.uid !== uid) return;
        state.items = fromDocs(docs);
        state.loaded = true;
        render();
      },
      stopped,
    ),
    watchUnread(uid, BADGE_CAP, (n) => state.uid === uid && setCount(n), stopped),
  ];
}

function setCount(n) {
  const text = badgeText(n);
  parts.count.textContent = text;
  parts.count.hidden = !text;
  parts.bell.setAttribute("aria-label", bellLabel(n));
  parts.bell.dataset.unread = String(n);
  parts.bell.classList.toggle("has-unread", n > 0);
  const words = n ? `${text} unread notification${n === 1 ? "" : "s"}` : "No unread notifications";
  if (parts.spoken.textContent !== words) parts.spoken.textContent = words;
}

function toggle() {
  if (parts.panel.hidden) open();
  else close();
}

function open() {
  parts.panel.hidden = false;
  parts.bell.setAttribute("aria-expanded", "true");
  render();
  parts.panel.focus();
  // Relative times ("5 minutes ago") stay true while the panel is open.
  state.ticker = setInterval(render, 60_000);
}

function close() {
  if (!parts || parts.panel.hidden) return;
  parts.panel.hidden = true;
  parts.bell.setAttribute("aria-expanded", "false");
  clearInterval(state.ticker);
  state.ticker = null;
}

function render() {
  if (!parts || parts.panel.hidden) return;
  const now = new Date();
  parts.note.textContent = state.problem ?? (!state.loaded ? "Loading…" : state.items.length ? "" : "No notifications yet.");
  parts.note.hidden = !parts.note.textContent;
  parts.markAll.disabled = !state.items.some(isUnread);
  parts.list.replaceChildren(...state.items.map((n) => item(n, now)));
}

function item(n, now) {
  const unread = isUnread(n);
  const content = [
    el("strong", { class: "note-title" }, n.title),
    el("span", { class: "note-body" }, n.body),
    el("time", { class: "muted", datetime: toDate(n.created_at)?.toISOString() }, relativeTime(n.created_at, now)),
    unread ? el("span", { class: "visually-hidden" }, " (unread)") : null,
  ];
  const attrs = { class: "note-open", onclick: () => openNote(n) };
  // With an order: a link to its page; without: a button that marks it read.
  const target = n.order_id
    ? el("a", { ...attrs, href: `#/orders/${encodeURIComponent(n.order_id)}` }, content)
    : el("button", { ...attrs, type: "button" }, content);
  return el(
    "li",
    { class: unread ? "note unread" : "note", "data-testid": "notification", dataset: { id: n.id, type: n.type, unread: String(unread) } },
    target,
  );
}

async function openNote(n) {
  if (n.order_id) close();
  if (!isUnread(n)) return;
  state.problem = null;
  state.items = markedRead(state.items, [n.id]); // the listener confirms it in a moment
  render();
  try {
    await post(`me/notifications/${encodeURIComponent(n.id)}/read`);
  } catch (error) {
    state.problem = `Could not mark it read: ${error.detail ?? error.message}`;
    render();
  }
}

async function markAllRead() {
  const unread = state.items.filter(isUnread).map((n) => n.id);
  state.problem = null;
  state.items = markedRead(state.items, unread);
  render();
  parts.panel.focus(); // the button is disabled now: keep the focus in the panel
  try {
    try {
      await post("me/notifications/read-all");
    } catch (error) {
      if (error.status !== 404 && error.status !== 405) throw error;
      // An API without read-all: one by one (each is idempotent).
      await Promise.all(unread.map((id) => post(`me/notifications/${encodeURIComponent(id)}/read`)));
    }
  } catch (error) {
    state.problem = `Could not mark them read: ${error.detail ?? error.message}`;
    render();
  }
}
