// The cart (GET /me/cart, priced for the caller's tier) and the header's item count. Lines are
// keyed by variant (a product without options is its own one variant), named with its options.
import { del, get, put } from "../api.js";
import { el, flash, renderer, showError } from "../dom.js";
import { money } from "../format.js";
import { currentUser } from "../session.js";
import { lineName, variantKey } from "../variants.js";
import { priceTag } from "./price.js";

/**
 * Put `quantity` more of a variant in the cart (signing in as needed first); a product without
 * options is named by its own id, its one variant's.
 */
export async function addToCart(app, variantId, quantity) {
  if (!app.requireUser()) return;
  try {
    const cart = await get("me/cart");
    const line = cart.lines.find((l) => variantKey(l) === variantId);
    await put(`me/cart/items/${variantId}`, { quantity: (line?.quantity ?? 0) + quantity });
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
  const key = variantKey(line);
  const name = line.name ? lineName(line) : line.product_id;
  // A variant of a product with options opens the product page with it chosen.
  const href = key === line.product_id ? `#/p/${line.product_id}` : `#/p/${line.product_id}/${key}`;
  const quantity = el("input", {
    type: "number",
    min: "1",
    max: "1000",
    value: String(line.quantity),
    "aria-label": `Quantity of ${name}`,
    onchange: async () => {
      try {
        await put(`me/cart/items/${key}`, { quantity: Number(quantity.value) });
        await cartView(app);
        await refreshCartCount();
      } catch (error) {
        showError(error);
      }
    },
  });
  return el(
    "tr",
    { "data-testid": "cart-line", "data-sku": line.sku, "data-variant-id": key },
    el("td", {}, el("a", { href, "data-testid": "line-name" }, name)),
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
            await del(`me/cart/items/${key}`);
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
