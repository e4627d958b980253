// "My tier": GET /me/tier as progress bars towards the next tier.
import { get } from "../api.js";
import { el, renderer } from "../dom.js";
import { label, money } from "../format.js";

/** A spend requirement counts one currency, which its progress names (`currency`). */
const REQUIREMENTS = {
  min_orders: ["Orders", (n) => String(n)],
  min_lifetime_spend: ["Lifetime spend", (n, currency) => money(n, currency)],
  min_orders_last_30_days: ["Orders in the last 30 days", (n) => String(n)],
};

export async function tierView(app) {
  const show = renderer();
  if (!app.requireUser("#/tier")) return;
  const standing = await get("me/tier");
  const current = standing.current?.name ?? label(standing.tier);
  const bars = standing.progress.map((p) => {
    const [name, format] = REQUIREMENTS[p.name] ?? [label(p.name), String];
    return el(
      "div",
      { class: "requirement", "data-testid": "tier-progress" },
      el("div", { class: "row" }, el("span", {}, name), el("span", {}, `${format(p.current, p.currency)} of ${format(p.required, p.currency)}`)),
      el(
        "div",
        { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(p.percent), "aria-label": name },
        el("div", { class: "fill", style: `width: ${p.percent}%` }),
      ),
    );
  });
  show(
    el("h1", {}, "My tier"),
    el(
      "section",
      { class: "tier-panel", "data-testid": "tier-panel" },
      el("p", { class: "big" }, "You are ", el("strong", { "data-testid": "tier-current" }, current), standing.tier_locked ? " (set by the shop)" : ""),
      standing.next
        ? [el("p", {}, "Next: ", el("strong", { "data-testid": "tier-next" }, standing.next.name)), ...bars]
        : el("p", {}, "You are at the top of the ladder."),
    ),
  );
}
