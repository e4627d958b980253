// Firebase Auth (email/password and anonymous guests) and Firestore for live order status.
import {
  connectAuthEmulator,
  connectFirestoreEmulator,
  createUserWithEmailAndPassword,
  doc,
  EmailAuthProvider,
  getAuth,
  getFirestore,
  initializeApp,
  linkWithCredential,
  onAuthStateChanged,
  onSnapshot,
  signInAnonymously,
  signInWithEmailAndPassword,
  signOut,
} from "../vendor/firebase.js";

let auth;
let db;

/** Start Firebase for `config`, pointing at the emulators when the config names them. */
export function startFirebase(config) {
  const app = initializeApp({
    apiKey: config.apiKey,
    projectId: config.projectId,
    authDomain: config.authDomain ?? `${config.projectId}.firebaseapp.com`,
  });
  auth = getAuth(app);
  db = getFirestore(app);
  if (config.authEmulatorUrl) connectAuthEmulator(auth, config.authEmulatorUrl, { disableWarnings: true });
  if (config.firestoreEmulator) {
    connectFirestoreEmulator(db, config.firestoreEmulator.host, config.firestoreEmulator.port);
  }
  return new Promise((resolve) => {
    const stop = onAuthStateChanged(auth, () => {
      stop();
      resolve();
    });
  });
}

/** Call `listener(user | null)` on every sign-in and sign-out; returns the unsubscribe. */
export const onUserChanged = (listener) => onAuthStateChanged(auth, listener);

/** The signed-in user (anonymous guests included) or null. */
export const currentUser = () => auth.currentUser;

/** A fresh ID token for the Authorization header, or null when nobody is signed in. */
export async function idToken() {
  return auth.currentUser ? auth.currentUser.getIdToken() : null;
}

export const signIn = (email, password) => signInWithEmailAndPassword(auth, email, password);
export const signUp = (email, password) => createUserWithEmailAndPassword(auth, email, password);

/** Whether the signed-in user is an anonymous guest. */
export const isGuest = () => Boolean(auth.currentUser?.isAnonymous);

/**
 * A guest signing up: link the email and password to the guest's anonymous account, so the uid
 * (and with it the cart and wishlist) stays; then a fresh token that carries the email.
 */
export async function linkGuest(email, password) {
  await linkWithCredential(auth.currentUser, EmailAuthProvider.credential(email, password));
  await auth.currentUser.getIdToken(true);
}
export const continueAsGuest = () => signInAnonymously(auth);
export const signOutUser = () => signOut(auth);

/** Re-read the token after the server changed the account (e.g. registration). */
export async function refreshToken() {
  if (auth.currentUser) await auth.currentUser.getIdToken(true);
}

/**
 * Listen to `orders/{orderId}` with the Firestore client SDK (the rules let the owner read it);
 * `onChange(order)` runs on the first snapshot and on every change. Returns the unsubscribe.
 */
export function watchOrder(orderId, onChange, onError) {
  return onSnapshot(
    doc(db, "orders", orderId),
    (snapshot) => onChange(snapshot.exists() ? { id: snapshot.id, ...snapshot.data() } : null),
    onError,
  );
}
