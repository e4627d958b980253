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
export { connectFirestoreEmulator, doc, getFirestore, onSnapshot } from "firebase/firestore";
