// The inbox's rules, free of the DOM and of Firebase (tests/web runs them under Node): times,
// unread counts, the badge's words, and whether this browser can take web push.

/** How many notifications the live window holds (newest first), and the badge's cap. */
export const WINDOW = 20;
export const BADGE_CAP = 99;

/** A notification's time as a Date: a Firestore Timestamp (client SDK), an ISO string (API). */
export function toDate(value) {
  if (value == null) return null;
  if (typeof value.toDate === "function") return value.toDate();
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const STEPS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

/** "just now", "5 minutes ago", "yesterday", "3 weeks ago" (a clock a little ahead: "just now"). */
export function relativeTime(value, now = new Date()) {
  const date = toDate(value);
  if (!date) return "";
  const seconds = Math.round((now.getTime() - date.getTime()) / 1000);
  if (seconds < 45) return "just now";
  for (const [unit, size] of STEPS) {
    if (seconds >= size) return relative.format(-Math.floor(seconds / size), unit);
  }
  return relative.format(-1, "minute");
}

/** Whether a notification is still unread (`read_at` null or absent). */
export const isUnread = (notification) => notification.read_at == null;

/** The badge's text for `count` unread ("" for none, "99+" past the cap). */
export function badgeText(count) {
  if (!count) return "";
  return count > BADGE_CAP ? `${BADGE_CAP}+` : String(count);
}

/** The bell's accessible name for `count` unread. */
export function bellLabel(count) {
  if (!count) return "Notifications, none unread";
  return `Notifications, ${badgeText(count)} unread`;
}

/** A snapshot's documents as plain notifications, keeping the id even if the data lacks it. */
export function fromDocs(docs) {
  return docs.map((d) => ({ ...d.data(), id: d.id }));
}

/** The same list with `ids` marked read at `at` (what the server will confirm). */
export function markedRead(items, ids, at = new Date()) {
  const marked = new Set(ids);
  return items.map((n) => (marked.has(n.id) && isUnread(n) ? { ...n, read_at: at } : n));
}

/**
 * Whether this browser can take web push from this shop, and if not why (one short line).
 * `env` is the window (or a stand-in in tests); `config` the app config (`/celeste-config.json`).
 */
export function pushSupport(env, config) {
  const missing = [
    ["Notification", "notifications"],
    ["PushManager", "push messages"],
  ].find(([name]) => !(name in env));
  if (!env.navigator || !("serviceWorker" in env.navigator)) {
    return { available: false, reason: "This browser does not support service workers, which push needs." };
  }
  if (missing) return { available: false, reason: `This browser does not support ${missing[1]}.` };
  if (env.isSecureContext === false) {
    return { available: false, reason: "Push needs a secure (https) page." };
  }
  if (!config?.vapidKey || !config?.messagingSenderId || !config?.appId) {
    const local = Boolean(config?.firestoreEmulator);
    return {
      available: false,
      reason: local
        ? "Push is off on this local shop: there is no FCM web registration offline."
        : "This shop has not set up web push.",
    };
  }
  if (env.Notification.permission === "denied") {
    return { available: false, reason: "Notifications are blocked for this site in your browser's settings." };
  }
  return { available: true, reason: null };
}
