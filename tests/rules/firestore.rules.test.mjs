// firestore.rules against the Firestore emulator: every collection x role x operation.
// Run by `make test` (tools/stack.py sets FIRESTORE_EMULATOR_HOST); alone: `make test-rules`.
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
} from "@firebase/rules-unit-testing";
import { deleteDoc, doc, getDoc, setDoc, updateDoc } from "firebase/firestore";

const [host, port] = (process.env.FIRESTORE_EMULATOR_HOST ?? "").split(":");
if (!host || !port) throw new Error("FIRESTORE_EMULATOR_HOST is not set: run `make test-rules`");

// The expected access, one row a collection: which roles may read / write. Until the accounts
// and security issue opens client reads, every client is refused everything.
const ROLES = ["anonymous", "owner", "other", "admin"];
const COLLECTIONS = {
  categories: { read: [], write: [] },
  category_slugs: { read: [], write: [] },
  products: { read: [], write: [] },
};
const OWNER = "owner-uid";

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
    for (const name of Object.keys(COLLECTIONS)) {
      await setDoc(doc(ctx.firestore(), name, "existing"), { owner: OWNER, active: true });
    }
  });
});

function db(role) {
  if (role === "anonymous") return env.unauthenticatedContext().firestore();
  if (role === "admin") return env.authenticatedContext("admin-uid", { role: "admin" }).firestore();
  return env.authenticatedContext(role === "owner" ? OWNER : "other-uid").firestore();
}

const OPERATIONS = {
  get: (fs, name) => getDoc(doc(fs, name, "existing")),
  create: (fs, name) => setDoc(doc(fs, name, "new"), { owner: OWNER }),
  update: (fs, name) => updateDoc(doc(fs, name, "existing"), { touched: true }),
  delete: (fs, name) => deleteDoc(doc(fs, name, "existing")),
};

for (const [name, access] of Object.entries(COLLECTIONS)) {
  describe(name, () => {
    for (const role of ROLES) {
      for (const [op, run] of Object.entries(OPERATIONS)) {
        const allowed = (op === "get" ? access.read : access.write).includes(role);
        test(`${role} ${op} ${allowed ? "allowed" : "denied"}`, async () => {
          const attempt = run(db(role), name);
          await (allowed ? assertSucceeds(attempt) : assertFails(attempt));
        });
      }
    }
  });
}
