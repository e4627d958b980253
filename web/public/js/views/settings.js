// Settings → Notifications: email about my orders (PATCH /me {notifications: {email}}) and web
// push on this device (an FCM token registered with PUT /me/devices/{token}) where the browser
// and the shop's configuration allow it; the inbox itself is always on.
import { del, get, patch, put } from "../api.js";
import { el, flash, renderer, showError } from "../dom.js";
import { pushSupport } from "../notifications.js";
import { currentUser, dropPushToken, isGuest, pushToken } from "../session.js";

const TOKEN_KEY = "celeste.pushToken"; // {uid, token}: the token this browser registered

function savedToken() {
  try {
    const saved = JSON.parse(localStorage.getItem(TOKEN_KEY) ?? "null");
    return saved?.uid === currentUser()?.uid ? saved.token : null;
  } catch {
    return null;
  }
}

/** A checkbox whose change runs `save(checked)`, showing progress and the API's problem. */
function toggle(testId, text, checked, save, { disabled = false, hint = null } = {}) {
  const box = el("input", { type: "checkbox", "data-testid": testId, checked, disabled });
  const status = el("span", { class: "muted", "data-testid": `${testId}-status`, role: "status" });
  box.addEventListener("change", async () => {
    const wanted = box.checked;
    box.disabled = true;
    status.textContent = "Saving…";
    flash(null);
    try {
      await save(wanted);
      status.textContent = "Saved";
    } catch (error) {
      box.checked = !wanted;
      status.textContent = "Not saved";
      showError(error);
    } finally {
      box.disabled = false;
    }
  });
  return el(
    "div",
    { class: "setting" },
    el("label", { class: "inline" }, box, text),
    status,
    hint ? el("p", { class: "muted" }, hint) : null,
  );
}

/** Turn push on for this device: permission, a token from FCM, registered with the API. */
async function enablePush(app, profile) {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    const refused = new Error("the browser's permission to show notifications was not given");
    throw Object.assign(refused, { title: "Push not turned on", detail: refused.message });
  }
  const worker = await navigator.serviceWorker.register("/push-sw.js");
  const token = await pushToken(app.config.vapidKey, worker);
  await put(`me/devices/${encodeURIComponent(token)}`, { platform: "web" });
  localStorage.setItem(TOKEN_KEY, JSON.stringify({ uid: currentUser().uid, token }));
  if (!profile.notifications?.push) await patch("me", { notifications: { push: true } });
}

async function disablePush() {
  const token = savedToken();
  if (token) await del(`me/devices/${encodeURIComponent(token)}`);
  localStorage.removeItem(TOKEN_KEY);
  await dropPushToken().catch(() => null); // the server no longer sends to it either way
}

export async function settingsView(app) {
  const show = renderer();
  if (!app.requireUser("#/settings")) return;
  const profile = await get("me");
  const prefs = profile.notifications ?? { email: true, push: true };
  const guest = isGuest() || !profile.email;
  const email = toggle(
    "email-toggle",
    "Email me about my orders",
    prefs.email && !guest,
    async (on) => {
      const saved = await patch("me", { notifications: { email: on } });
      Object.assign(prefs, saved.notifications ?? { email: on });
    },
    guest ? { disabled: true, hint: "Guests have no email address: create an account to get emails." } : {},
  );
  const support = pushSupport(window, app.config);
  const push = support.available
    ? toggle("push-toggle", "Push notifications on this device", Boolean(savedToken()), (on) =>
        on ? enablePush(app, profile) : disablePush(),
      )
    : el(
        "p",
        { class: "muted", "data-testid": "push-unavailable" },
        "Push notifications on this device: unavailable. ",
        support.reason,
      );
  show(
    el("h1", {}, "Settings"),
    el(
      "section",
      { class: "tier-panel", "data-testid": "notification-settings", "aria-labelledby": "notification-settings-title" },
      el("h2", { id: "notification-settings-title" }, "Notifications"),
      el("p", { class: "muted" }, "Your inbox (the bell at the top) always gets every update about your orders."),
      email,
      push,
    ),
  );
}
