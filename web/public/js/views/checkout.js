// Checkout: delivery (address and shipping method) or pickup at the store when it offers it, and a
// discount code, priced by POST /checkout/quote, then POST /checkout (Idempotency-Key,
// Prefer: wait) and on to the order page.
import { get, post } from "../api.js";
import { el, flash, renderer, showError } from "../dom.js";
import { shippingCountries } from "../countries.js";
import { money } from "../format.js";
import { lineNames } from "../variants.js";
import { refreshCartCount } from "./cart.js";
import { rejectionDetail } from "./order.js";
import { totalsTable } from "./totals.js";

const ADDRESS_FIELDS = ["name", "line1", "city", "postal_code", "country"];
/** Quoting waits until these are filled (the API requires them). */
const REQUIRED = ["name", "line1", "city", "postal_code"];

/** The same request body keeps its key (a retry is a replay), a changed body gets a new one. */
let lastAttempt = { body: null, key: null };

function keyFor(body) {
  const text = JSON.stringify(body);
  if (lastAttempt.body !== text) lastAttempt = { body: text, key: crypto.randomUUID() };
  return lastAttempt.key;
}

function input(name, text, attrs = {}) {
  return el("label", {}, text, el("input", { name, "data-testid": `address-${name}`, ...attrs }));
}

export async function checkoutView(app) {
  const show = renderer();
  if (!app.requireUser("#/checkout")) return;
  const cart = await get("me/cart");
  if (!cart.lines.length) {
    show(el("h1", {}, "Checkout"), el("p", {}, "Your cart is empty. ", el("a", { href: "#/" }, "Go shopping")));
    return;
  }
  // Each line's name with its variant ("Tee — M / Blue"), by variant id.
  const names = lineNames(cart.lines);
  const store = app.stores.find((s) => s.id === app.storeId);
  const countries = await shippingCountries(app.stores, store?.address?.country);
  const fulfilment = (value, text, checked) =>
    el("label", { class: "inline" }, el("input", { type: "radio", name: "fulfilment", value, checked, "data-testid": `fulfilment-${value}` }), text);
  const method = el("select", { name: "shipping_method", "data-testid": "shipping-method", "aria-label": "Shipping method" });
  const code = el("input", { name: "discount_code", "data-testid": "discount-code", "aria-label": "Discount code", autocomplete: "off" });
  const codeNote = el("span", { class: "muted", "data-testid": "code-note" });
  const totals = el("div", { "data-testid": "totals-box" }, el("p", { class: "muted" }, "Enter your address to see shipping and tax."));
  const place = el("button", { type: "submit", class: "primary", "data-testid": "place-order", disabled: true }, "Place order");
  const form = el(
    "form",
    { class: "checkout", "data-testid": "checkout-form", onsubmit: (event) => { event.preventDefault(); placeOrder(); } },
    store?.pickup
      ? el(
          "fieldset",
          {},
          el("legend", {}, "How you get it"),
          fulfilment("delivery", "Delivery", true),
          fulfilment("pickup", `Collect at ${store.name}`, false),
        )
      : null,
    el(
      "fieldset",
      { "data-testid": "ship-to" },
      el("legend", {}, "Ship to"),
      input("name", "Name", { required: true, autocomplete: "name" }),
      input("line1", "Address", { required: true, autocomplete: "address-line1" }),
      input("city", "City", { required: true, autocomplete: "address-level2" }),
      input("postal_code", "Postal code", { required: true, autocomplete: "postal-code" }),
      el(
        "label",
        {},
        "Country",
        el("select", { name: "country", "data-testid": "address-country" }, countries.map(([iso, name]) => el("option", { value: iso }, name))),
      ),
    ),
    el("fieldset", { "data-testid": "delivery" }, el("legend", {}, "Delivery"), el("label", {}, "Shipping method", method)),
    el(
      "fieldset",
      {},
      el("legend", {}, "Discount code"),
      el("div", { class: "inline" }, code, el("button", { type: "button", "data-testid": "apply-code", onclick: () => requote() }, "Apply")),
      codeNote,
    ),
    place,
  );

  const pickingUp = () => new FormData(form).get("fulfilment") === "pickup";

  function body() {
    const data = new FormData(form);
    const request = { store_id: app.storeId };
    if (pickingUp()) {
      request.fulfilment = "pickup"; // collected at the store: no address, no shipping method
    } else {
      const address = {};
      for (const key of ADDRESS_FIELDS) {
        const value = String(data.get(key) ?? "").trim();
        if (value) address[key] = value;
      }
      request.shipping_address = address;
      if (method.value) request.shipping_method = method.value;
    }
    const typed = code.value.trim();
    if (typed) request.discount_code = typed;
    return request;
  }

  function ready(request) {
    return request.fulfilment === "pickup" || REQUIRED.every((key) => request.shipping_address[key]);
  }

  let latest = 0; // quotes can answer out of order: only the newest request's answer shows

  async function requote() {
    flash(null);
    const request = body();
    if (!ready(request)) return;
    const mine = ++latest;
    try {
      const quote = await post("checkout/quote", request);
      if (mine !== latest) return;
      const chosen = method.value;
      method.replaceChildren(
        ...quote.shipping_methods.map((m) =>
          el("option", { value: m.code, selected: m.code === chosen }, `${m.name} — ${money(m.price, m.currency)}${m.free_over ? ` (free over ${money(m.free_over, m.currency)})` : ""}`),
        ),
      );
      if (!chosen && quote.shipping_methods.length) return requote(); // price the first method
      codeNote.textContent = quote.discount_code ? `${quote.discount_code.code}: −${money(quote.discount_code.amount, quote.currency)}` : "";
      totals.replaceChildren(totalsTable(quote, names));
      place.disabled = !pickingUp() && !quote.shipping_methods.length;
    } catch (error) {
      if (mine !== latest) return;
      if (error.errors?.some((e) => e.field === "discount_code")) codeNote.textContent = "";
      showError(error);
    }
  }

  async function placeOrder() {
    const request = body();
    place.disabled = true;
    try {
      const order = await post("checkout", request, { "Idempotency-Key": keyFor(request), Prefer: "wait=10" });
      refreshCartCount(); // the order took the cart's lines
      if (order.status === "rejected") {
        // Settled while we waited: say why here, where the customer can change the cart.
        showError({ title: "Out of stock", detail: rejectionDetail(order, names) });
        document.getElementById("flash").append(" ", el("a", { href: `#/orders/${order.id}` }, "See the order"));
        return;
      }
      app.go(`#/orders/${order.id}`);
    } catch (error) {
      showError(error);
      place.disabled = false;
    }
  }

  for (const name of REQUIRED) form.elements[name].addEventListener("change", requote);
  form.elements.country.addEventListener("change", () => {
    method.replaceChildren();
    requote();
  });
  method.addEventListener("change", requote);
  for (const radio of form.querySelectorAll('input[name="fulfilment"]')) {
    radio.addEventListener("change", () => {
      const pickup = pickingUp();
      for (const id of ["ship-to", "delivery"]) form.querySelector(`[data-testid="${id}"]`).hidden = pickup;
      for (const key of REQUIRED) form.elements[key].required = !pickup;
      totals.replaceChildren(el("p", { class: "muted" }, pickup ? "Pricing your order…" : "Enter your address to see shipping and tax."));
      place.disabled = true;
      requote();
    });
  }
  code.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      requote();
    }
  });

  show(el("h1", {}, "Checkout"), el("div", { class: "columns" }, form, el("section", {}, el("h2", {}, "Your order"), totals)));
}
