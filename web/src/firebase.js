// The parts of the Firebase JS SDK the storefront uses, bundled by esbuild into
// web/public/vendor/firebase.js (`npm run build:web`; tools/stack.py runs it on setup).
export { initializeApp } from "firebase/app";
export {
  connectAuthEmulator,
  createUserWithEmailAndPassword,
  EmailAuthProvider,
  getAuth,
  linkWithCredential,
  onAuthStateChanged,
  signInAnonymously,
  signInWithEmailAndPassword,
  signOut,
} from "firebase/auth";
export {
  collection,
  connectFirestoreEmulator,
  doc,
  getFirestore,
  limit,
  onSnapshot,
  orderBy,
  query,
  where,
} from "firebase/firestore";

/**
 * Firebase Cloud Messaging (web push), loaded only when a shopper turns push on: esbuild splits
 * it into its own chunk, so the bundle every page loads does not carry it.
 */
export const loadMessaging = () => import("firebase/messaging");
