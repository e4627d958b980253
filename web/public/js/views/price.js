// How a price shows: the caller's tier price, with the base price struck through when lower.
import { el } from "../dom.js";
import { label, money } from "../format.js";

/** The `pricing` object of a product (or a cart line) as a price tag. */
export function priceTag(pricing) {
  const discounted = pricing.final_price < pricing.base_price;
  return el(
    "span",
    { class: "price", "data-testid": "price" },
    discounted
      ? el("del", { class: "base-price", "data-testid": "base-price" }, money(pricing.base_price, pricing.currency))
      : null,
    el(
      "strong",
      { class: discounted ? "final-price deal" : "final-price", "data-testid": "final-price" },
      money(pricing.final_price, pricing.currency),
    ),
    discounted && pricing.tier
      ? el("small", { class: "tier-note" }, `${label(pricing.tier)} price`)
      : null,
  );
}
