// A product page: its price for the caller and the unit price at larger quantities (one quote).
import { get, post } from "../api.js";
import { el, renderer } from "../dom.js";
import { money } from "../format.js";
import { addToCart } from "./cart.js";
import { priceTag } from "./price.js";

/** The quantities the break table quotes (the server prices each; no rule is known here). */
export const BREAKS = [1, 5, 10, 25, 50];

export async function productView(app, productId) {
  const show = renderer();
  const store = app.storeId ? `?store_id=${encodeURIComponent(app.storeId)}` : "";
  const [product, quote] = await Promise.all([
    get(`products/${productId}${store}`),
    post("pricing/quote", { lines: BREAKS.map((quantity) => ({ product_id: productId, quantity })) }),
  ]);
  const quantity = el("input", {
    type: "number",
    min: "1",
    max: "1000",
    value: "1",
    "aria-label": "Quantity",
    "data-testid": "quantity",
  });
  const rows = quote.lines.map((line) =>
    el(
      "tr",
      { class: line.unit_final_price < line.unit_base_price ? "deal" : null },
      el("td", {}, `${line.quantity}+`),
      el("td", { "data-testid": "break-unit-price" }, money(line.unit_final_price, line.currency)),
      el("td", {}, money(line.line_total, line.currency)),
    ),
  );
  show(
    el("p", {}, el("a", { href: `#/c/${product.category_id}` }, "← Back to the category")),
    el(
      "div",
      { class: "product", "data-testid": "product-page", "data-sku": product.sku },
      product.image_url ? el("img", { src: product.image_url, alt: "", class: "hero" }) : null,
      el(
        "div",
        {},
        el("h1", {}, product.name),
        el("p", { class: "muted" }, `SKU ${product.sku}${product.unit ? ` · per ${product.unit}` : ""}`),
        product.description ? el("p", {}, product.description) : null,
        el("p", { class: "big" }, priceTag(product.pricing)),
        // The API tells a shopper availability up to the quantity asked (1 here), not the stock.
        product.available !== undefined
          ? el("p", { "data-testid": "available" }, product.available > 0 ? "Available at this store" : "Out of stock at this store")
          : null,
        el(
          "form",
          {
            class: "inline",
            onsubmit: (event) => {
              event.preventDefault();
              addToCart(app, product.id, Number(quantity.value));
            },
          },
          quantity,
          el("button", { type: "submit", "data-testid": "add-to-cart" }, "Add to cart"),
        ),
        el("h2", {}, "Buy more, pay less"),
        el(
          "table",
          { class: "breaks", "data-testid": "quantity-breaks" },
          el("thead", {}, el("tr", {}, el("th", {}, "Quantity"), el("th", {}, "Unit price"), el("th", {}, "Line total"))),
          el("tbody", {}, rows),
        ),
      ),
    ),
  );
}
