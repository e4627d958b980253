// The countries a shopper may enter at checkout, named in their language: those the shop's
// active shipping methods serve (every region when a method serves everywhere), or the stores'
// own countries when no method is set up. Nothing is hard-coded: names come from Intl.
import { get } from "./api.js";

/** Two-letter codes Intl names that are not countries (EU, the UN, private-use codes). */
const NOT_COUNTRIES = new Set(["EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"]);
const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

function regionNames() {
  return new Intl.DisplayNames([navigator.language, "en"], { type: "region", fallback: "none" });
}

function everyRegion(names) {
  const codes = [];
  for (const a of LETTERS) for (const b of LETTERS) {
    const code = a + b;
    if (!NOT_COUNTRIES.has(code) && names.of(code)) codes.push(code);
  }
  return codes;
}

/** `[[code, name], ...]` sorted by name, `first` (the store's country) leading when listed. */
export async function shippingCountries(stores, first) {
  const names = regionNames();
  const methods = (await get("shipping/methods")).items ?? [];
  let codes;
  if (methods.some((m) => !m.countries?.length)) codes = everyRegion(names);
  else if (methods.length) codes = [...new Set(methods.flatMap((m) => m.countries))];
  else codes = [...new Set(stores.map((s) => s.address?.country).filter(Boolean))];
  const named = codes.map((code) => [code, names.of(code) ?? code]);
  named.sort((a, b) => a[1].localeCompare(b[1]));
  const lead = named.findIndex(([code]) => code === first);
  if (lead > 0) named.unshift(...named.splice(lead, 1));
  return named;
}
