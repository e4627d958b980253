// Variants as the storefront names and prices them. A product without options sells one variant
// whose id is the product's own, so everything here also works for products and lines from
// before variants.
import { el } from "./dom.js";
import { label, money } from "./format.js";

/** What a line or a product is bought as: its variant id, else its product's (its one variant). */
export const variantKey = (item) => item.variant_id || item.product_id || item.id;

/** `{Size: "M", Colour: "Blue"}` → "M / Blue" (empty for a product without options). */
export function optionLabel(options) {
  return Object.values(options ?? {}).join(" / ");
}

/**
 * A cart, quote or order line's name with its variant: "Tee — M / Blue" (or "Tee"). Order and
 * quote lines carry `variant_title`, the values in the product's option order frozen with the
 * line (a stored map's keys come back sorted); other lines' `options` are in that order already.
 */
export function lineName(line, fallback) {
  const name = line.name ?? fallback ?? line.product_id;
  const variant = line.variant_title ?? optionLabel(line.options);
  return variant ? `${name} — ${variant}` : name;
}

/** Each line's full name by its variant key (rejections name the variant short, else the product). */
export function lineNames(lines) {
  return new Map(lines.map((line) => [variantKey(line), lineName(line)]));
}

/** The name a shortfall's (or any product/variant reference's) line had. */
export const nameOf = (names, ref) => names.get(variantKey(ref)) ?? names.get(ref.product_id) ?? ref.product_id;

/** Whether a variant can be added: it exists, is on sale and (with a store chosen) in stock there. */
export function purchasable(variant) {
  return Boolean(variant) && variant.active !== false && (variant.available === undefined || variant.available > 0);
}

/** The variant with exactly the option values `chosen` (undefined when no variant has them). */
export function variantFor(product, chosen) {
  return product.variants.find((v) => product.options.every((o) => v.options?.[o.name] === chosen[o.name]));
}

/** Why a variant cannot be added, in words (null when it can). */
export function unavailableReason(variant) {
  if (!variant || variant.active === false) return "Not available in this combination";
  if (variant.available !== undefined && variant.available <= 0) return "Out of stock at this store";
  return null;
}

/** Whether a product's variants sell at more than one price (then lists show its range). */
export function hasRange(product) {
  const range = product.price_range;
  return Boolean(range) && range.min !== range.max;
}

/** A product's `price_range` as "€10.00 – €15.00" (the tier note when its lowest price is one). */
export function priceRangeTag(product) {
  const { min, max, currency } = product.price_range;
  const discounted = product.pricing && product.pricing.final_price < product.pricing.base_price;
  return el(
    "span",
    { class: "price", "data-testid": "price" },
    el("strong", { class: "final-price", "data-testid": "price-range" }, `${money(min, currency)} – ${money(max, currency)}`),
    discounted && product.pricing.tier ? el("small", { class: "tier-note" }, `${label(product.pricing.tier)} price`) : null,
  );
}
