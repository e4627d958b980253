// The one table of an order's money, for a checkout quote and a placed order alike: its lines,
// subtotal, discounts (when any), shipping, tax (with its rate; "included" for inclusive tax)
// and total. `totalTestId` tells the two pages' totals apart. Lines are named with their variant
// ("Tee — M / Blue"); `names` (by variant id) names lines that carry no name.
import { el } from "../dom.js";
import { money } from "../format.js";
import { lineName, nameOf } from "../variants.js";

export function totalsTable(order, names, { totalTestId = "total" } = {}) {
  const c = order.currency ?? "EUR";
  const row = (labelText, amount, testid, strong = false) =>
    el("tr", {}, el("td", {}, labelText), el(strong ? "th" : "td", { "data-testid": testid }, amount));
  const rate = `${(order.tax_rate_bp ?? 0) / 100} %`;
  return el(
    "table",
    { class: "lines", "data-testid": "checkout-totals" },
    el(
      "tbody",
      {},
      order.lines.map((line) =>
        el(
          "tr",
          { "data-testid": "order-line", "data-sku": line.sku ?? null },
          el("td", {}, `${line.quantity} × ${line.name ? lineName(line) : nameOf(names, line)}`),
          el("td", {}, money(line.line_total, line.currency)),
        ),
      ),
    ),
    el(
      "tfoot",
      {},
      row("Subtotal", money(order.subtotal, c), "subtotal"),
      order.discount_total ? row("Discounts", `−${money(order.discount_total, c)}`, "discount-total") : null,
      row(order.fulfilment === "pickup" ? "Shipping (collected)" : "Shipping", money(order.shipping_total ?? 0, c), "shipping-total"),
      row(order.tax_inclusive ? `Tax included (${rate})` : `Tax (${rate})`, money(order.tax_total ?? 0, c), "tax-total"),
      row("Total", money(order.total, c), totalTestId, true),
    ),
  );
}
