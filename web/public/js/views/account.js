// Sign in, sign up (POST /auth/register, then sign in) or continue as an anonymous guest.
import { post } from "../api.js";
import { el, flash, renderer, showError } from "../dom.js";
import { continueAsGuest, signIn } from "../session.js";

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
    "auth/weak-password": "choose a longer password (6 characters or more)",
  };
  return known[error.code] ?? error.message;
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
        attempt(() => signIn(data.get("email"), data.get("password")), app);
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
        attempt(async () => {
          await post("auth/register", body);
          await signIn(body.email, body.password);
        }, app);
      },
    },
    el("h2", {}, "New here?"),
    field("display_name", "text", "Your name", { autocomplete: "name" }),
    field("email", "email", "Email", { autocomplete: "email" }),
    field("password", "password", "Password", { autocomplete: "new-password", minlength: "6" }),
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
