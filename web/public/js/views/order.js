// An order's page: its status updates live from a Firestore listener on orders/{id}.
import { get } from "../api.js";
import { el, renderer, showError } from "../dom.js";
import { label, money } from "../format.js";
import { watchOrder } from "../session.js";
import { lineNames, nameOf } from "../variants.js";
import { paymentForm } from "./payment.js";
import { totalsTable } from "./totals.js";

const STEPS = ["pending", "confirmed", "processing", "shipped", "delivered"];
const REASONS = {
  discount_code_exhausted: "the discount code ran out before your order was confirmed",
};

function timeline(status) {
  const reached = STEPS.indexOf(status);
  return el(
    "ol",
    { class: "timeline" },
    STEPS.map((step, i) => el("li", { class: i <= reached ? "done" : null, "data-step": step }, label(step))),
  );
}

/** Why an order was rejected, in words: the reason and each line the store could not cover. */
export function rejectionDetail(order, names) {
  const reason = REASONS[order.rejection_reason ?? order.reason] ?? "not enough stock at the store";
  const short = (order.shortfalls ?? []).map(
    (s) => `${nameOf(names, s)}: ${s.requested} asked, ${s.available} in stock`,
  );
  return `We could not take this order: ${reason}${short.length ? ` (${short.join("; ")})` : ""}.`;
}

function outcome(order, names) {
  if (order.status === "rejected") {
    return el("div", { class: "flash error", "data-testid": "order-problem" }, rejectionDetail(order, names));
  }
  if (order.status === "expired") return el("p", { class: "flash error" }, "The hold on this order ended before it was paid.");
  if (order.status === "cancelled") return el("p", { class: "flash info" }, "This order was cancelled.");
  return null;
}

export async function orderView(app, orderId) {
  const show = renderer();
  if (!app.requireUser(`#/orders/${orderId}`)) return;
  const first = await get(`orders/${orderId}`); // includes the owner's client_secret
  // Each line carries the name, SKU and option values it was ordered under (frozen with its
  // price): "Tee — M / Blue"; orders placed before names were frozen show the product id.
  const names = lineNames(first.lines);
  const status = el("strong", { class: "status", "data-testid": "order-status" }, first.status);
  const steps = el("div", {}, timeline(first.status));
  const notes = el("div", {}, outcome(first, names));
  const payBox = el("div", { "data-testid": "payment-box" });
  const message = el("p", { class: "muted", "data-testid": "payment-message" });
  let paying = false;

  async function render(order) {
    status.textContent = order.status;
    status.dataset.status = order.status;
    steps.replaceChildren(timeline(order.status));
    notes.replaceChildren(outcome(order, names) ?? "");
    if (order.status === "confirmed" && order.payment?.intent_id && !paying) {
      paying = true;
      try {
        // The client secret is served to the owner by the API only (not in the listened
        // document): read the order once when its intent appears.
        const payment = order.payment.client_secret ? order.payment : (await get(`orders/${orderId}`)).payment;
        payBox.replaceChildren(
          el("h2", {}, `Pay ${money(payment.amount, payment.currency)}`),
          await paymentForm(app, payment, (text, ok) => {
            message.textContent = text;
            message.className = ok ? "muted" : "flash error";
          }),
          message,
        );
      } catch (error) {
        showError(error);
      }
    } else if (order.status !== "confirmed") {
      payBox.replaceChildren();
    }
  }

  show(
    el("h1", {}, "Order ", el("code", {}, orderId)),
    el("p", { class: "big" }, "Status: ", status),
    steps,
    notes,
    el(
      "p",
      { "data-testid": "order-fulfilment" },
      first.fulfilment === "pickup"
        ? `Collect at ${app.stores.find((s) => s.id === first.store_id)?.name ?? "the store"}`
        : first.shipping_address
          ? `Delivery to ${first.shipping_address.name}, ${first.shipping_address.city} (${first.shipping_address.country})`
          : null,
    ),
    totalsTable(first, names, { totalTestId: "order-total" }),
    payBox,
  );
  await render(first);
  // Live: every status change the server writes arrives here (no polling, no reload).
  return watchOrder(
    orderId,
    (order) => order && render(order),
    (error) => showError({ title: "Live updates stopped", detail: error.message }),
  );
}
