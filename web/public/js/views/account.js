// Sign in, sign up (POST /auth/register, then sign in) or continue as an anonymous guest. A
// guest keeps their cart and wishlist: signing up links the email and password to the guest's
// own account (same uid, POST /auth/register/linked makes the profile); signing in to an
// existing account merges them into it (POST /me/cart/merge with the guest's token).
import { post } from "../api.js";
import { el, flash, renderer, showError } from "../dom.js";
import { continueAsGuest, idToken, isGuest, linkGuest, signIn } from "../session.js";
import { refreshCartCount } from "./cart.js";

function field(name, type, text, attrs = {}) {
  return el("label", {}, text, el("input", { name, type, required: true, ...attrs }));
}

async function attempt(work, app) {
  flash(null);
  try {
    await work();
    app.afterSignIn();
  } catch (error) {
    showError(error.code ? { title: "Could not sign in", detail: authMessage(error) } : error);
  }
}

function authMessage(error) {
  const known = {
    "auth/invalid-credential": "that email and password do not match an account",
    "auth/wrong-password": "that email and password do not match an account",
    "auth/user-not-found": "that email and password do not match an account",
    "auth/email-already-in-use": "an account with that email exists: sign in instead",
    "auth/weak-password": "choose a longer password (8 characters or more)",
    "auth/credential-already-in-use": "an account with that email exists: sign in instead",
  };
  return known[error.code] ?? error.message;
}

/** Sign in; a guest's cart and wishlist move into the account signed in to. */
async function signInKeepingTheCart(email, password) {
  const guestToken = isGuest() ? await idToken() : null;
  await signIn(email, password);
  if (!guestToken) return;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await post("me/cart/merge", { guest_token: guestToken });
      break;
    } catch (error) {
      // A retried merge never doubles anything, so a busy or unreachable API is simply asked again.
      if (attempt >= 3 || !(error.status === 0 || error.status >= 500)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
  await refreshCartCount();
}

/** Sign up; a guest's own account becomes the new one (same uid), so nothing has to move. */
async function signUpKeepingTheCart(body) {
  if (isGuest()) {
    await linkGuest(body.email, body.password);
    await post("auth/register/linked", { display_name: body.display_name });
    return;
  }
  await post("auth/register", body);
  await signIn(body.email, body.password);
}

export async function accountView(app) {
  const show = renderer();
  const signInForm = el(
    "form",
    {
      "data-testid": "sign-in-form",
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        attempt(() => signInKeepingTheCart(data.get("email"), data.get("password")), app);
      },
    },
    el("h2", {}, "Sign in"),
    field("email", "email", "Email", { autocomplete: "username" }),
    field("password", "password", "Password", { autocomplete: "current-password" }),
    el("button", { type: "submit" }, "Sign in"),
  );
  const signUpForm = el(
    "form",
    {
      "data-testid": "sign-up-form",
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const body = {
          email: data.get("email"),
          password: data.get("password"),
          display_name: data.get("display_name"),
        };
        attempt(() => signUpKeepingTheCart(body), app);
      },
    },
    el("h2", {}, "New here?"),
    field("display_name", "text", "Your name", { autocomplete: "name" }),
    field("email", "email", "Email", { autocomplete: "email" }),
    field("password", "password", "Password", { autocomplete: "new-password", minlength: "8" }),
    el("button", { type: "submit" }, "Create account"),
  );
  show(
    el("h1", {}, "Your account"),
    el(
      "div",
      { class: "columns" },
      signInForm,
      signUpForm,
      el(
        "div",
        {},
        el("h2", {}, "Just shopping?"),
        el("p", { class: "muted" }, "Check out without an account; your cart stays on this browser."),
        el(
          "button",
          { type: "button", "data-testid": "guest", onclick: () => attempt(continueAsGuest, app) },
          "Continue as guest",
        ),
      ),
    ),
  );
}
