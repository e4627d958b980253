// firestore.rules against the Firestore emulator: every collection x role x operation.
// Run by `make test` (tools/stack.py sets FIRESTORE_EMULATOR_HOST); alone: `make test-rules`.
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
} from "@firebase/rules-unit-testing";
import {
  collection,
  collectionGroup,
  deleteDoc,
  doc,
  getDoc,
  getDocs,
  limit,
  orderBy,
  query,
  setDoc,
  updateDoc,
  where,
} from "firebase/firestore";

const [host, port] = (process.env.FIRESTORE_EMULATOR_HOST ?? "").split(":");
if (!host || !port) throw new Error("FIRESTORE_EMULATOR_HOST is not set: run `make test-rules`");

const OWNER = "owner-uid";
// "stale-admin": a token that still carries role: admin after a demotion (the stored profile
// says customer); "claim-only": a role: admin token whose account has no profile at all. Both
// must read no more than any other signed-in customer.
const ROLES = ["anonymous", "owner", "other", "admin", "stale-admin", "claim-only"];
const EVERYONE = ROLES;
const NOBODY = [];

// One row a document: its path, its data, who may get it, and (optionally) a list query with
// who may run it. No row lets anyone write: every write goes through the functions.
const DOCS = [
  { path: "categories/active", data: { active: true }, get: EVERYONE,
    list: [(c) => query(c("categories"), where("active", "==", true)), EVERYONE] },
  { path: "categories/hidden", data: { active: false }, get: ["admin"],
    list: [(c) => query(c("categories")), ["admin"]] },
  { path: "products/active", data: { active: true, base_price: 100 }, get: EVERYONE,
    list: [(c) => query(c("products"), where("active", "==", true)), EVERYONE] },
  { path: "products/hidden", data: { active: false }, get: ["admin"] },
  // A product with options: its variants live in its document and read as the product does.
  { path: "products/tee", data: { active: true, base_price: 1000, variant_ids: ["tee-m"],
      variants: [{ id: "tee-m", sku: "TEE-M", options: { Size: "M" } }] }, get: EVERYONE,
    list: [(c) => query(c("products"), where("active", "==", true),
      where("variant_ids", "array-contains", "tee-m")), EVERYONE] },
  { path: "stores/active", data: { active: true }, get: EVERYONE },
  { path: "stores/hidden", data: { active: false }, get: ["admin"] },
  { path: "tiers/GOLD", data: { level: 3 }, get: EVERYONE,
    list: [(c) => query(c("tiers")), EVERYONE] },
  { path: `users/${OWNER}`, data: { role: "customer", tier: "BRONZE" }, get: ["owner", "admin"],
    list: [(c) => query(c("users")), ["admin"]] },
  { path: `users/${OWNER}/cart/p1`, data: { quantity: 1 }, get: ["owner", "admin"] },
  // Cart lines and wishlist entries are keyed by variant id (a product without options: its
  // own id); the rules check no field of them, only who reads.
  { path: `users/${OWNER}/cart/v-shirt-s`,
    data: { product_id: "shirt", variant_id: "v-shirt-s", quantity: 2 }, get: ["owner", "admin"],
    list: [(c) => query(c(`users/${OWNER}/cart`)), ["owner", "admin"]] },
  { path: `users/${OWNER}/wishlist/v-shirt-m`,
    data: { product_id: "shirt", variant_id: "v-shirt-m" }, get: ["owner", "admin"],
    list: [(c) => query(c(`users/${OWNER}/wishlist`)), ["owner", "admin"]] },
  // The inbox: the owner reads (and listens to) their notifications, newest first; the
  // channels' delivery records in them hold no address or token.
  { path: `users/${OWNER}/notifications/order-o1-1`,
    data: { event_id: "order-o1-1", type: "order.placed", title: "Order received",
      body: "We have received your order o1.", order_id: "o1", created_at: new Date(0),
      read_at: null, channels: { email: { status: "sent", attempts: 1 } } },
    get: ["owner", "admin"],
    list: [(c) => query(c(`users/${OWNER}/notifications`), orderBy("created_at", "desc"),
      limit(20)), ["owner", "admin"]] },
  // Push tokens are the server's alone: not even their owner reads them back.
  { path: `users/${OWNER}/devices/0f1e2d`, data: { token: "fcm-token-1", platform: "web" },
    get: NOBODY, list: [(c) => query(c(`users/${OWNER}/devices`)), NOBODY] },
  // The profiles behind the admin roles: the admin's says admin, the demoted one's customer.
  { path: "users/admin-uid", data: { role: "admin", tier: "BRONZE" }, get: ["admin"] },
  { path: "users/stale-uid", data: { role: "customer", tier: "BRONZE" },
    get: ["stale-admin", "admin"] },
  { path: "orders/o1", data: { user_id: OWNER, status: "pending" }, get: ["owner", "admin"],
    // Everyone asks for the owner's orders: only the owner and admins may.
    list: [(c) => query(c("orders"), where("user_id", "==", OWNER)), ["owner", "admin"]] },
  { path: "price_lists/pl1", data: { priority: 1 }, get: ["admin"] },
  { path: "stores/active/inventory/p1", data: { on_hand: 5, reserved: 0 }, get: ["admin"] },
  { path: "stores/active/inventory/p1/movements/m1", data: { kind: "set" }, get: ["admin"] },
  // Stock is keyed by variant: a variant's levels across stores are for admins only.
  { path: "stores/active/inventory/tee-m",
    data: { product_id: "tee", variant_id: "tee-m", on_hand: 2, reserved: 0 }, get: ["admin"],
    list: [(c, g) => query(g("inventory"), where("variant_id", "==", "tee-m")), ["admin"]] },
  { path: "shipping_methods/standard", data: { active: true, price: 500 }, get: EVERYONE,
    list: [(c) => query(c("shipping_methods"), where("active", "==", true)), EVERYONE] },
  { path: "shipping_methods/retired", data: { active: false, price: 900 }, get: ["admin"],
    list: [(c) => query(c("shipping_methods")), ["admin"]] },
  { path: "tax_rates/PT", data: { rate_bp: 2300, inclusive: true }, get: ["admin"],
    list: [(c) => query(c("tax_rates")), ["admin"]] },
  { path: "discount_codes/SAVE10", data: { kind: "percentage", value: 10, times_used: 0 },
    get: ["admin"], list: [(c) => query(c("discount_codes")), ["admin"]] },
  { path: `discount_codes/SAVE10/customers/${OWNER}`, data: { used: 1 }, get: ["admin"] },
  { path: "discount_codes/SAVE10/uses/o1-use", data: { kind: "use", user_id: OWNER },
    get: ["admin"] },
  { path: "category_slugs/fruit", data: { category_id: "c1" }, get: NOBODY },
  { path: "product_skus/SKU-1", data: { product_id: "p1" }, get: NOBODY },
  { path: "product_skus/TEE-M", data: { product_id: "tee", variant_id: "tee-m" }, get: NOBODY },
  { path: "idempotency_keys/k1", data: { order_id: "o1" }, get: NOBODY },
  // An order's payment as stored: no client secret in it, so admins reading it see none.
  { path: "orders/o2", data: { user_id: OWNER, status: "confirmed",
      payment: { provider: "stripe", intent_id: "pi_1", client_secret: null } },
    get: ["owner", "admin"] },
  // payment.client_secret lives here: the owner alone may read it (not admins, not others).
  { path: "payment_secrets/o2", data: { user_id: OWNER, intent_id: "pi_1",
      client_secret: "pi_1_secret_x" }, get: ["owner"],
    list: [(c) => query(c("payment_secrets"), where("user_id", "==", OWNER)), ["owner"]] },
  { path: "payment_events/evt_1", data: { order_id: "o2", outcome: "paid" }, get: NOBODY },
  // The outbox: an order's events (with its public shape) are for admins only, not its owner.
  { path: "events/order-o1-1", data: { type: "order.placed", aggregate: { kind: "order", id: "o1" },
      sequence: 1, data: { user_id: OWNER, status: "pending" } }, get: ["admin"],
    list: [(c) => query(c("events"), where("aggregate.id", "==", "o1")), ["admin"]] },
  // Webhook endpoints hold their signing secrets: no client reads them, not even an admin
  // (admins use GET /webhooks, which never shows a secret), nor their deliveries.
  { path: "webhooks/w1", data: { url: "https://hooks.example.com/", secret: "whsec_x",
      active: true }, get: NOBODY, list: [(c) => query(c("webhooks")), NOBODY] },
  { path: "webhooks/w1/deliveries/order-o1-1", data: { status: "pending", attempts: 0 },
      get: NOBODY },
  // Money for no order, refunded: admins see it, nobody else.
  { path: "unmatched_payments/pi_9", data: { order_id: "ghost", amount: 1234 }, get: ["admin"],
    list: [(c) => query(c("unmatched_payments")), ["admin"]] },
];

let env;

before(async () => {
  env = await initializeTestEnvironment({
    // Its own project id: rules tests never touch the data of the other layers.
    projectId: "demo-celeste-rules",
    firestore: { host, port: Number(port), rules: readFileSync("firestore.rules", "utf8") },
  });
});

after(async () => {
  await env?.cleanup();
});

beforeEach(async () => {
  await env.clearFirestore();
  await env.withSecurityRulesDisabled(async (ctx) => {
    for (const row of DOCS) await setDoc(doc(ctx.firestore(), row.path), row.data);
  });
});

const UIDS = {
  owner: OWNER,
  other: "other-uid",
  admin: "admin-uid",
  "stale-admin": "stale-uid",
  "claim-only": "claim-only-uid",
};
const ADMIN_CLAIM = new Set(["admin", "stale-admin", "claim-only"]);

function db(role) {
  if (role === "anonymous") return env.unauthenticatedContext().firestore();
  const claims = ADMIN_CLAIM.has(role) ? { role: "admin" } : {};
  return env.authenticatedContext(UIDS[role], claims).firestore();
}

const WRITES = {
  create: (fs, path) => setDoc(doc(fs, `${path}-new`), { active: true, user_id: OWNER }),
  update: (fs, path) => updateDoc(doc(fs, path), { touched: true }),
  overwrite: (fs, path) => setDoc(doc(fs, path), { active: true, role: "admin", tier: "GOLD" }),
  delete: (fs, path) => deleteDoc(doc(fs, path)),
};

for (const row of DOCS) {
  describe(row.path, () => {
    for (const role of ROLES) {
      const mayGet = row.get.includes(role);
      test(`${role} get ${mayGet ? "allowed" : "denied"}`, async () => {
        const attempt = getDoc(doc(db(role), row.path));
        await (mayGet ? assertSucceeds(attempt) : assertFails(attempt));
      });
      if (row.list) {
        const [makeQuery, listers] = row.list;
        const mayList = listers.includes(role);
        test(`${role} list ${mayList ? "allowed" : "denied"}`, async () => {
          const fs = db(role);
          const attempt = getDocs(
            makeQuery((name) => collection(fs, name), (name) => collectionGroup(fs, name)),
          );
          await (mayList ? assertSucceeds(attempt) : assertFails(attempt));
        });
      }
      for (const [op, write] of Object.entries(WRITES)) {
        test(`${role} ${op} denied`, async () => {
          await assertFails(write(db(role), row.path));
        });
      }
    }
  });
}
