// The storefront's service worker for web push (registered only when a shopper turns push on in
// Settings). FCM delivers the message Celeste sent (`notification` {title, body}, `data`
// {event_id, type, order_id}); this shows it, and a click opens the order (or the shop).
self.addEventListener("push", (event) => {
  let message;
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = { notification: { title: "Celeste", body: event.data?.text() ?? "" } };
  }
  const note = message.notification ?? {};
  const data = message.data ?? {};
  event.waitUntil(
    self.registration.showNotification(note.title ?? "Celeste", {
      body: note.body ?? "",
      icon: "/images/logo.svg",
      tag: data.event_id, // one notification per event, even if FCM delivers it twice
      data,
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const orderId = event.notification.data?.order_id;
  event.waitUntil(self.clients.openWindow(orderId ? `/#/orders/${encodeURIComponent(orderId)}` : "/"));
});
