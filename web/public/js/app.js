// The storefront's entry: load the config, start Firebase, then route #/… hashes to views.
import { get, setBase } from "./api.js";
import { loadConfig } from "./config.js";
import { el, flash, isCurrent, navigate, show, showError } from "./dom.js";
import { currentUser, onUserChanged, signOutUser, startFirebase } from "./session.js";
import { accountView } from "./views/account.js";
import { cartView, refreshCartCount } from "./views/cart.js";
import { catalogueView } from "./views/catalogue.js";
import { checkoutView } from "./views/checkout.js";
import { inboxFor, startInbox } from "./views/inbox.js";
import { orderView } from "./views/order.js";
import { productView } from "./views/product.js";
import { settingsView } from "./views/settings.js";
import { tierView } from "./views/tier.js";

const STORE_KEY = "celeste.store";
/** What every view gets: the config, the chosen store, navigation helpers. */
export const app = {
  config: null,
  stores: [],
  get storeId() {
    return localStorage.getItem(STORE_KEY) || this.stores[0]?.id || null;
  },
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  /** Views that need an account send the visitor to sign in (as a guest or not) first. */
  requireUser(returnTo) {
    if (currentUser()) return true;
    sessionStorage.setItem("celeste.returnTo", returnTo ?? location.hash);
    app.go("#/signin");
    return false;
  },
  afterSignIn() {
    renderSession(currentUser()); // a guest who signed up is still the same user, now named
    const back = sessionStorage.getItem("celeste.returnTo") || "#/";
    sessionStorage.removeItem("celeste.returnTo");
    app.go(back);
  },
};

const ROUTES = [
  [/^#\/?$/, () => catalogueView(app, null)],
  [/^#\/c\/([\w-]+)$/, (id) => catalogueView(app, id)],
  [/^#\/p\/([\w-]+)(?:\/([\w-]+))?$/, (id, variantId) => productView(app, id, variantId)],
  [/^#\/signin$/, () => accountView(app)],
  [/^#\/cart$/, () => cartView(app)],
  [/^#\/tier$/, () => tierView(app)],
  [/^#\/settings$/, () => settingsView(app)],
  [/^#\/checkout$/, () => checkoutView(app)],
  [/^#\/orders\/([\w-]+)$/, (id) => orderView(app, id)],
];

let leave = null; // the current view's clean-up (e.g. a Firestore listener)

async function route() {
  const token = navigate();
  flash(null);
  if (typeof leave === "function") leave();
  leave = null;
  const hash = location.hash || "#/";
  for (const [pattern, view] of ROUTES) {
    const match = pattern.exec(hash);
    if (!match) continue;
    try {
      const cleanup = await view(...match.slice(1));
      if (isCurrent(token)) leave = cleanup;
      else if (typeof cleanup === "function") cleanup(); // left before it finished
    } catch (error) {
      if (isCurrent(token)) showError(error);
    }
    return;
  }
  show(el("h1", {}, "Not found"), el("p", {}, el("a", { href: "#/" }, "Back to the shop")));
}

function renderSession(user) {
  const box = document.getElementById("session");
  document.getElementById("nav-tier").hidden = !user;
  document.getElementById("nav-settings").hidden = !user;
  if (!user) {
    box.replaceChildren(el("a", { href: "#/signin", class: "button" }, "Sign in"));
    return;
  }
  const who = user.isAnonymous ? "Guest" : user.email;
  box.replaceChildren(
    el("span", { "data-testid": "signed-in-as" }, who),
    el("button", { type: "button", class: "link", onclick: () => signOutUser() }, "Sign out"),
  );
}

async function loadStores() {
  const select = document.getElementById("store-select");
  const page = await get("stores?limit=100");
  app.stores = page.items;
  // A store remembered from an earlier run of the emulators may be gone.
  if (!app.stores.some((s) => s.id === localStorage.getItem(STORE_KEY))) localStorage.removeItem(STORE_KEY);
  select.replaceChildren(
    ...app.stores.map((s) => el("option", { value: s.id, selected: s.id === app.storeId }, s.name)),
  );
  select.onchange = () => {
    localStorage.setItem(STORE_KEY, select.value);
    route();
  };
}

async function boot() {
  try {
    app.config = await loadConfig();
    setBase(app.config.functionsBaseUrl);
    await startFirebase(app.config);
    await loadStores();
  } catch (error) {
    showError(error);
    show(el("p", {}, "The shop could not start."));
    return;
  }
  let first = true;
  startInbox();
  onUserChanged((user) => {
    renderSession(user);
    inboxFor(user); // a new user's inbox; signed out: the listeners stop
    refreshCartCount();
    if (!first && location.hash !== "#/signin") route();
    first = false;
  });
  window.addEventListener("hashchange", route);
  await route();
  document.body.dataset.ready = "true";
}

boot();
