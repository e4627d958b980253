// The storefront's inbox rules (web/public/js/notifications.js) under Node's test runner; the
// unit layer runs this file (tests/unit/test_storefront_js.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  badgeText,
  bellLabel,
  fromDocs,
  isUnread,
  markedRead,
  pushSupport,
  relativeTime,
  toDate,
} from "../../web/public/js/notifications.js";

const NOW = new Date("2026-03-10T12:00:00Z");
const ago = (seconds) => new Date(NOW.getTime() - seconds * 1000);

test("times come from a Firestore Timestamp, an ISO string or a Date", () => {
  const when = new Date("2026-03-10T11:00:00Z");
  assert.deepEqual(toDate({ toDate: () => when }), when);
  assert.deepEqual(toDate("2026-03-10T11:00:00Z"), when);
  assert.deepEqual(toDate(when), when);
  assert.equal(toDate(null), null);
  assert.equal(toDate("not a time"), null);
});

test("relative times read like a person says them", () => {
  assert.equal(relativeTime(ago(5), NOW), "just now");
  assert.equal(relativeTime(ago(-30), NOW), "just now"); // a clock a little ahead
  assert.equal(relativeTime(ago(60), NOW), "1 minute ago");
  assert.equal(relativeTime(ago(5 * 60 + 10), NOW), "5 minutes ago");
  assert.equal(relativeTime(ago(3 * 3600), NOW), "3 hours ago");
  assert.equal(relativeTime(ago(26 * 3600), NOW), "yesterday");
  assert.equal(relativeTime(ago(15 * 86400), NOW), "2 weeks ago");
  assert.equal(relativeTime(ago(400 * 86400), NOW), "last year");
  assert.equal(relativeTime(undefined, NOW), "");
});

test("the badge counts unread up to its cap and the bell says it in words", () => {
  assert.equal(badgeText(0), "");
  assert.equal(badgeText(3), "3");
  assert.equal(badgeText(99), "99");
  assert.equal(badgeText(100), "99+");
  assert.equal(bellLabel(0), "Notifications, none unread");
  assert.equal(bellLabel(2), "Notifications, 2 unread");
  assert.equal(bellLabel(120), "Notifications, 99+ unread");
});

test("unread is a missing or null read_at; marking read keeps the others and the read ones", () => {
  const earlier = new Date("2026-03-01T00:00:00Z");
  const items = [
    { id: "a", read_at: null },
    { id: "b" },
    { id: "c", read_at: earlier },
  ];
  assert.deepEqual(items.map(isUnread), [true, true, false]);
  const marked = markedRead(items, ["a", "c"], NOW);
  assert.deepEqual(marked.map((n) => n.read_at ?? null), [NOW, null, earlier]);
  assert.notEqual(marked[0], items[0]); // a copy: the listener's data is never changed
});

test("a snapshot's documents keep their id", () => {
  const docs = [{ id: "order-1-3", data: () => ({ title: "Shipped", read_at: null }) }];
  assert.deepEqual(fromDocs(docs), [{ id: "order-1-3", title: "Shipped", read_at: null }]);
});

const browser = (permission = "default") => ({
  Notification: { permission },
  PushManager: function PushManager() {},
  navigator: { serviceWorker: {} },
  isSecureContext: true,
});
const PUSH = { vapidKey: "BExample", messagingSenderId: "123", appId: "1:123:web:abc" };

test("push is offered only where the browser and the shop's configuration allow it", () => {
  assert.deepEqual(pushSupport(browser(), PUSH), { available: true, reason: null });
  const local = pushSupport(browser(), { firestoreEmulator: { host: "127.0.0.1", port: 8080 } });
  assert.equal(local.available, false);
  assert.match(local.reason, /no FCM web registration offline/);
  assert.match(pushSupport(browser(), { projectId: "shop" }).reason, /not set up web push/);
  const without = (name) => Object.fromEntries(Object.entries(browser()).filter(([key]) => key !== name));
  assert.match(pushSupport(without("Notification"), PUSH).reason, /does not support notifications/);
  assert.match(pushSupport(without("PushManager"), PUSH).reason, /does not support push/);
  assert.match(pushSupport({ ...browser(), navigator: {} }, PUSH).reason, /service workers/);
  assert.match(pushSupport({ ...browser(), isSecureContext: false }, PUSH).reason, /https/);
  assert.match(pushSupport(browser("denied"), PUSH).reason, /blocked/);
});
