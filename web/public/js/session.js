// Firebase Auth (email/password and anonymous guests), Firestore for live order status and the
// inbox, and (loaded only when asked) Cloud Messaging for web push.
import {
  collection,
  connectAuthEmulator,
  connectFirestoreEmulator,
  createUserWithEmailAndPassword,
  doc,
  EmailAuthProvider,
  getAuth,
  getFirestore,
  initializeApp,
  limit,
  linkWithCredential,
  loadMessaging,
  onAuthStateChanged,
  onSnapshot,
  orderBy,
  query,
  signInAnonymously,
  signInWithEmailAndPassword,
  signOut,
  where,
} from "../vendor/firebase.js";

let firebaseApp;
let auth;
let db;

/** Start Firebase for `config`, pointing at the emulators when the config names them. */
export function startFirebase(config) {
  firebaseApp = initializeApp({
    apiKey: config.apiKey,
    projectId: config.projectId,
    authDomain: config.authDomain ?? `${config.projectId}.firebaseapp.com`,
    // Web push (FCM) needs the web app's registration; a local stack has none.
    ...(config.messagingSenderId ? { messagingSenderId: config.messagingSenderId } : {}),
    ...(config.appId ? { appId: config.appId } : {}),
  });
  auth = getAuth(firebaseApp);
  db = getFirestore(firebaseApp);
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

/**
 * Listen to the signed-in user's inbox (`users/{uid}/notifications`, readable by its owner):
 * `onChange(docs)` gets the newest `size` documents, newest first, on the first snapshot and on
 * every change. Returns the unsubscribe.
 */
export function watchNotifications(uid, size, onChange, onError) {
  const newest = query(collection(db, "users", uid, "notifications"), orderBy("created_at", "desc"), limit(size));
  return onSnapshot(newest, (snapshot) => onChange(snapshot.docs), onError);
}

/** Listen to how many of the user's notifications are unread (up to `cap` + 1 counted). */
export function watchUnread(uid, cap, onCount, onError) {
  const unread = query(collection(db, "users", uid, "notifications"), where("read_at", "==", null), limit(cap + 1));
  return onSnapshot(unread, (snapshot) => onCount(snapshot.size), onError);
}

/**
 * This device's FCM registration token for web push (asks the browser's permission first).
 * `serviceWorker` is the registration that shows the pushes. The Messaging SDK is loaded here,
 * on first use, never with the page.
 */
export async function pushToken(vapidKey, serviceWorker) {
  const { getMessaging, getToken } = await loadMessaging();
  return getToken(getMessaging(firebaseApp), { vapidKey, serviceWorkerRegistration: serviceWorker });
}

/** Forget this device's FCM token (push turned off here). */
export async function dropPushToken() {
  const { deleteToken, getMessaging } = await loadMessaging();
  return deleteToken(getMessaging(firebaseApp));
}
