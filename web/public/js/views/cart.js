// The cart (GET /me/cart, priced for the caller's tier) and the header's item count.
import { del, get, put } from "../api.js";
import { el, flash, renderer, showError } from "../dom.js";
import { money } from "../format.js";
import { currentUser } from "../session.js";
import { priceTag } from "./price.js";

/** Put `quantity` more of a product in the cart (signing in as needed first). */
export async function addToCart(app, productId, quantity) {
  if (!app.requireUser()) return;
  try {
    const cart = await get("me/cart");
    const line = cart.lines.find((l) => l.product_id === productId);
    await put(`me/cart/items/${productId}`, { quantity: (line?.quantity ?? 0) + quantity });
    flash(el("span", { "data-testid": "added" }, "Added to your cart. ", el("a", { href: "#/cart" }, "View cart")), "info");
    await refreshCartCount();
  } catch (error) {
    showError(error);
  }
}

/** The number of items in the header's cart badge. */
export async function refreshCartCount() {
  const badge = document.getElementById("cart-count");
  if (!currentUser()) {
    badge.hidden = true;
    return;
  }
  try {
    const cart = await get("me/cart");
    const count = cart.lines.reduce((sum, line) => sum + line.quantity, 0);
    badge.textContent = String(count);
    badge.hidden = count === 0;
  } catch {
    badge.hidden = true;
  }
}

function lineRow(app, line) {
  const quantity = el("input", {
    type: "number",
    min: "1",
    max: "1000",
    value: String(line.quantity),
    "aria-label": `Quantity of ${line.name}`,
    onchange: async () => {
      try {
        await put(`me/cart/items/${line.product_id}`, { quantity: Number(quantity.value) });
        await cartView(app);
        await refreshCartCount();
      } catch (error) {
        showError(error);
      }
    },
  });
  return el(
    "tr",
    { "data-testid": "cart-line", "data-sku": line.sku },
    el("td", {}, el("a", { href: `#/p/${line.product_id}` }, line.name ?? line.product_id)),
    el("td", {}, line.pricing ? priceTag(line.pricing) : el("span", { class: "muted" }, line.unavailable_reason ?? "unavailable")),
    el("td", {}, quantity),
    el("td", {}, line.line_total === null ? "—" : money(line.line_total, line.pricing.currency)),
    el(
      "td",
      {},
      el(
        "button",
        {
          type: "button",
          class: "link",
          onclick: async () => {
            await del(`me/cart/items/${line.product_id}`);
            await cartView(app);
            await refreshCartCount();
          },
        },
        "Remove",
      ),
    ),
  );
}

export async function cartView(app) {
  const show = renderer();
  if (!app.requireUser("#/cart")) return;
  const cart = await get("me/cart");
  if (!cart.lines.length) {
    show(el("h1", {}, "Your cart"), el("p", { "data-testid": "cart-empty" }, "Your cart is empty. ", el("a", { href: "#/" }, "Go shopping")));
    return;
  }
  show(
    el("h1", {}, "Your cart"),
    el(
      "table",
      { class: "lines", "data-testid": "cart" },
      el("thead", {}, el("tr", {}, el("th", {}, "Product"), el("th", {}, "Price"), el("th", {}, "Qty"), el("th", {}, "Total"), el("th", {}))),
      el("tbody", {}, cart.lines.map((line) => lineRow(app, line))),
      el(
        "tfoot",
        {},
        cart.discount_total
          ? el("tr", {}, el("td", { colspan: "3" }, "Savings"), el("td", {}, `−${money(cart.discount_total, cart.currency)}`), el("td"))
          : null,
        el("tr", {}, el("th", { colspan: "3" }, "Total"), el("th", { "data-testid": "cart-total" }, money(cart.total, cart.currency)), el("td")),
      ),
    ),
    el("p", {}, el("a", { href: "#/checkout", class: "button primary", "data-testid": "go-checkout" }, "Checkout")),
  );
}
