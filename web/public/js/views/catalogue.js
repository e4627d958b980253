// The category tree and the product grid, priced for the signed-in customer's tier.
import { get } from "../api.js";
import { el, renderer } from "../dom.js";
import { hasRange, priceRangeTag } from "../variants.js";
import { addToCart } from "./cart.js";
import { priceTag } from "./price.js";

let categories = null;

async function categoryTree() {
  if (!categories) categories = (await get("categories?limit=100")).items;
  const children = new Map();
  for (const c of categories) {
    const key = c.parent_id ?? "";
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(c);
  }
  for (const list of children.values()) {
    list.sort((a, b) => (a.sort_order ?? 0) - (b.sort_order ?? 0) || a.name.localeCompare(b.name));
  }
  return children;
}

function treeList(children, parent, selected) {
  const items = (children.get(parent) ?? []).map((c) =>
    el(
      "li",
      {},
      el("a", { href: `#/c/${c.id}`, class: c.id === selected ? "current" : null }, c.name),
      children.has(c.id) ? treeList(children, c.id, selected) : null,
    ),
  );
  return el("ul", {}, items);
}

/**
 * One product as a card: image, name, price for the caller (its range when its variants differ),
 * add to cart; a product with several variants links to its page to choose them instead.
 */
export function productCard(app, product) {
  const variants = product.variants ?? [];
  const choose = variants.length > 1;
  return el(
    "article",
    { class: "card", "data-testid": "product-card", "data-sku": product.sku },
    el(
      "a",
      { href: `#/p/${product.id}`, class: "card-link" },
      product.image_url ? el("img", { src: product.image_url, alt: "", loading: "lazy" }) : null,
      el("h3", {}, product.name),
    ),
    hasRange(product) ? priceRangeTag(product) : priceTag(product.pricing),
    product.available === 0 ? el("p", { class: "muted" }, "Out of stock at this store") : null,
    choose
      ? el("a", { href: `#/p/${product.id}`, class: "button", "data-testid": "choose-options" }, "Choose options")
      : el(
          "button",
          {
            type: "button",
            "data-testid": "add-to-cart",
            disabled: product.available === 0,
            // Its one variant: the product itself when it has no options.
            onclick: () => addToCart(app, variants[0]?.id ?? product.id, 1),
          },
          "Add to cart",
        ),
  );
}

export async function catalogueView(app, categoryId) {
  const show = renderer();
  const query = new URLSearchParams({ limit: "50", sort: "name" });
  if (categoryId) query.set("category_id", categoryId);
  if (app.storeId) query.set("store_id", app.storeId);
  const [children, page] = await Promise.all([categoryTree(), get(`products?${query}`)]);
  const current = categoryId ? categories.find((c) => c.id === categoryId) : null;
  show(
    el(
      "div",
      { class: "shop" },
      el(
        "aside",
        { class: "tree", "data-testid": "category-tree" },
        el("h2", {}, "Categories"),
        el("a", { href: "#/", class: categoryId ? null : "current" }, "Everything"),
        treeList(children, "", categoryId),
      ),
      el(
        "section",
        {},
        el("h1", {}, current ? current.name : "All products"),
        page.items.length
          ? el("div", { class: "grid", "data-testid": "product-list" }, page.items.map((p) => productCard(app, p)))
          : el("p", { class: "muted" }, "Nothing here yet."),
      ),
    ),
  );
}
