// A product page: its price for the caller and the unit price at larger quantities; a product
// with options has one picker per option, and the price, stock, SKU, breaks and the variant added
// to the cart follow the choice.
import { get, post } from "../api.js";
import { el, renderer, showError } from "../dom.js";
import { money } from "../format.js";
import { purchasable, unavailableReason, variantFor } from "../variants.js";
import { addToCart } from "./cart.js";
import { priceTag } from "./price.js";

/** The quantities the break table quotes (the server prices each; no rule is known here). */
export const BREAKS = [1, 5, 10, 25, 50];

function quantityInput() {
  return el("input", {
    type: "number",
    min: "1",
    max: "1000",
    value: "1",
    "aria-label": "Quantity",
    "data-testid": "quantity",
  });
}

function breakRow({ quantity, unit, base, total, currency }) {
  return el(
    "tr",
    { class: unit < base ? "deal" : null },
    el("td", {}, `${quantity}+`),
    el("td", { "data-testid": "break-unit-price" }, money(unit, currency)),
    el("td", {}, money(total, currency)),
  );
}

function breaksTable(rows) {
  return el(
    "table",
    { class: "breaks", "data-testid": "quantity-breaks" },
    el("thead", {}, el("tr", {}, el("th", {}, "Quantity"), el("th", {}, "Unit price"), el("th", {}, "Line total"))),
    rows,
  );
}

function heading(product, sku, ...rest) {
  return [
    el("p", {}, el("a", { href: `#/c/${product.category_id}` }, "← Back to the category")),
    el(
      "div",
      { class: "product", "data-testid": "product-page", "data-sku": product.sku },
      product.image_url ? el("img", { src: product.image_url, alt: "", class: "hero" }) : null,
      el(
        "div",
        {},
        el("h1", {}, product.name),
        el("p", { class: "muted" }, sku, product.unit ? ` · per ${product.unit}` : ""),
        product.description ? el("p", {}, product.description) : null,
        ...rest,
      ),
    ),
  ];
}

export async function productView(app, productId, variantId) {
  const show = renderer();
  const store = app.storeId ? `?store_id=${encodeURIComponent(app.storeId)}` : "";
  const product = await get(`products/${productId}${store}`);
  if (product.options?.length) return variantPage(app, product, variantId, show);
  const quote = await post("pricing/quote", { lines: BREAKS.map((quantity) => ({ product_id: productId, quantity })) });
  const quantity = quantityInput();
  const rows = quote.lines.map((line) =>
    breakRow({
      quantity: line.quantity,
      unit: line.unit_final_price,
      base: line.unit_base_price,
      total: line.line_total,
      currency: line.currency,
    }),
  );
  show(
    heading(
      product,
      `SKU ${product.sku}`,
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
      breaksTable(el("tbody", {}, rows)),
    ),
  );
}

/** The variant shown first: the one asked for, else the first that can be bought, else the first on sale. */
function firstChoice(product, variantId) {
  return (
    product.variants.find((v) => v.id === variantId) ??
    product.variants.find(purchasable) ??
    product.variants.find((v) => v.active !== false) ??
    product.variants[0]
  );
}

async function variantPage(app, product, variantId, show) {
  // Each variant's break prices: one quote of its lines when it is first chosen, kept for the page.
  const quoted = new Map();
  function breaksOf(variant) {
    if (!quoted.has(variant.id)) {
      const lines = BREAKS.map((quantity) => ({ product_id: product.id, variant_id: variant.id, quantity }));
      const asked = post("pricing/quote", { lines }).then((quote) => quote.lines);
      asked.catch(() => quoted.delete(variant.id)); // asked again when chosen again
      quoted.set(variant.id, asked);
    }
    return quoted.get(variant.id);
  }
  const start = firstChoice(product, variantId);
  const chosen = Object.fromEntries(product.options.map((o) => [o.name, start?.options?.[o.name] ?? o.values[0]]));

  const quantity = quantityInput();
  const sku = el("span", { "data-testid": "variant-sku" });
  const price = el("p", { class: "big", "data-testid": "variant-price" });
  const status = el("p", { "data-testid": "variant-status" });
  const add = el("button", { type: "submit", "data-testid": "add-to-cart" }, "Add to cart");
  const body = el("tbody");
  const note = (text) => el("tr", {}, el("td", { colspan: "3", class: "muted" }, text));
  let shown = 0; // which choice the break table is for: only the newest one's quote shows
  const pickers = product.options.map((option) => {
    const select = el(
      "select",
      {
        name: option.name,
        "data-testid": `option-${option.name}`,
        onchange: () => {
          chosen[option.name] = select.value;
          update();
        },
      },
      option.values.map((value) => el("option", { value, selected: value === chosen[option.name] }, value)),
    );
    return { option, select };
  });

  function update() {
    const variant = variantFor(product, chosen);
    const mine = ++shown;
    const reason = unavailableReason(variant);
    // Each value is marked by what choosing it (the other options kept) would give.
    for (const { option, select } of pickers) {
      for (const item of select.options) {
        const other = unavailableReason(variantFor(product, { ...chosen, [option.name]: item.value }));
        item.textContent = other ? `${item.value} (${other === "Out of stock at this store" ? "out of stock" : "unavailable"})` : item.value;
        item.dataset.unavailable = other ? "true" : "false";
      }
    }
    sku.textContent = variant ? `SKU ${variant.sku}` : `SKU ${product.sku}`;
    price.replaceChildren(variant ? priceTag(variant.pricing) : el("span", { class: "muted" }, "—"));
    status.textContent = reason ?? (variant.available !== undefined ? "Available at this store" : "");
    status.className = reason ? "unavailable" : "";
    status.dataset.available = reason ? "false" : "true";
    add.disabled = Boolean(reason);
    add.dataset.variantId = variant?.id ?? "";
    if (!variant || variant.active === false) {
      body.replaceChildren(note("Choose an available combination."));
      return Promise.resolve();
    }
    body.replaceChildren(note("Pricing…"));
    return breaksOf(variant).then(
      (lines) => {
        if (mine !== shown) return; // another combination was chosen meanwhile
        body.replaceChildren(
          ...lines.map((line) =>
            breakRow({
              quantity: line.quantity,
              unit: line.unit_final_price,
              base: line.unit_base_price,
              total: line.line_total,
              currency: line.currency,
            }),
          ),
        );
      },
      (error) => {
        if (mine !== shown) return;
        body.replaceChildren(note("Could not price larger quantities."));
        showError(error);
      },
    );
  }

  await update(); // the page shows with its first variant's breaks, as one without options does
  show(
    heading(
      product,
      sku,
      price,
      el(
        "fieldset",
        { class: "options", "data-testid": "option-pickers" },
        el("legend", {}, "Options"),
        pickers.map(({ option, select }) => el("label", {}, option.name, select)),
      ),
      status,
      el(
        "form",
        {
          class: "inline",
          onsubmit: (event) => {
            event.preventDefault();
            const variant = variantFor(product, chosen);
            if (purchasable(variant)) addToCart(app, variant.id, Number(quantity.value));
          },
        },
        quantity,
        add,
      ),
      el("h2", {}, "Buy more, pay less"),
      breaksTable(body),
    ),
  );
}
