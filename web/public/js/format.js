// Display formats: money arrives as integers in minor units with its ISO 4217 currency.

const formatters = new Map();

function formatter(currency) {
  if (!formatters.has(currency)) {
    formatters.set(currency, new Intl.NumberFormat("en-IE", { style: "currency", currency }));
  }
  return formatters.get(currency);
}

/** `money(349, "EUR")` → "€3.49" (the currency's own number of minor digits). */
export function money(amount, currency) {
  const f = formatter(currency);
  const digits = f.resolvedOptions().maximumFractionDigits;
  return f.format(amount / 10 ** digits);
}

/** Title case for codes and statuses: "partially_refunded" → "Partially refunded". */
export function label(code) {
  const text = String(code ?? "").replaceAll("_", " ").toLowerCase();
  return text.charAt(0).toUpperCase() + text.slice(1);
}
