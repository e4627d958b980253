// Paying an order's PaymentIntent with Stripe.js: the server never sees card data.
import { get } from "../api.js";
import { el } from "../dom.js";

let stripePromise = null;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = el("script", { src });
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load Stripe.js from ${src}`));
    document.head.append(script);
  });
}

/** Stripe.js for the shop's publishable key: in dev the local Stripe's mock of it. */
export function stripe(app) {
  if (!stripePromise) {
    stripePromise = (async () => {
      const { publishable_key: key } = await get("payments/config");
      const base = app.config.stripeApiBase;
      await loadScript(base ? `${base.replace(/\/+$/, "")}/js.stripe.com/v3/` : "https://js.stripe.com/v3/");
      return window.Stripe(key);
    })();
    stripePromise.catch(() => {
      stripePromise = null;
    });
  }
  return stripePromise;
}

/**
 * A card form that confirms `payment.client_secret`; `onResult(message, ok)` reports. The
 * order's status changes only when Stripe tells the server (webhook), which the page hears live.
 */
export async function paymentForm(app, payment, onResult) {
  const client = await stripe(app);
  const mount = el("div", { class: "card-element", "data-testid": "card-element" });
  const card = client.elements().create("card");
  const pay = el("button", { type: "submit", class: "primary", "data-testid": "pay" }, "Pay");
  const form = el(
    "form",
    {
      class: "payment",
      "data-testid": "payment-form",
      onsubmit: async (event) => {
        event.preventDefault();
        pay.disabled = true;
        const result = await client.confirmCardPayment(payment.client_secret, {
          payment_method: { card },
        });
        if (result.error) {
          pay.disabled = false;
          onResult(result.error.message ?? "the payment failed", false);
        } else {
          onResult("Payment received: waiting for the shop to confirm it…", true);
        }
      },
    },
    mount,
    pay,
  );
  requestAnimationFrame(() => card.mount(mount));
  return form;
}
