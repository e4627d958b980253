// Tiny DOM helpers: elements are built with text nodes (never innerHTML), so API data is inert.

/** `el("p", {class: "x", onclick}, "text", child)`: an element with attributes and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

let navigation = 0;

/** Start a navigation: renders of views begun before it are dropped from now on. */
export function navigate() {
  navigation += 1;
  return navigation;
}

/** Whether `token` (from navigate) is still the current navigation. */
export const isCurrent = (token) => token === navigation;

/**
 * A `show` bound to the current navigation: call it before the view's first `await`, so a slow
 * view the visitor already left never paints over the page they went to.
 */
export function renderer() {
  const mine = navigation;
  return (...nodes) => (mine === navigation ? show(...nodes) : null);
}

/** Replace the page's main view with `nodes`. */
export function show(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes.flat());
  return view;
}

/** A banner message; `kind` is "error" or "info". */
export function flash(message, kind = "error") {
  const box = document.getElementById("flash");
  if (!message) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.hidden = false;
  box.className = `flash ${kind}`;
  const parts = (Array.isArray(message) ? message : [message]).filter((part) => part != null && part !== false);
  box.replaceChildren(...parts);
}

/** Show a failed call's problem (its detail and the fields it names) instead of a blank page. */
export function showError(error) {
  const items = (error.errors ?? []).map((e) => el("li", {}, `${e.field}: ${e.message}`));
  flash([
    el("strong", {}, error.title ?? "Something went wrong"),
    " ",
    el("span", { "data-testid": "problem-detail" }, error.detail ?? error.message),
    items.length ? el("ul", {}, items) : null,
  ]);
}
