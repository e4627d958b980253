// Where the storefront's backend is: the config the local stack writes (served by the Hosting
// emulator at /celeste-config.json), else the deployed site's /__/firebase/init.json.
const REGION = "us-central1";

/** @returns {Promise<{projectId: string, apiKey: string, authDomain?: string,
 *   functionsBaseUrl: string, authEmulatorUrl?: string,
 *   firestoreEmulator?: {host: string, port: number}, stripeApiBase?: string|null}>} */
export async function loadConfig() {
  const local = await fetch("/celeste-config.json", { cache: "no-store" });
  if (local.ok) return local.json();
  const init = await fetch("/__/firebase/init.json", { cache: "no-store" });
  if (!init.ok) throw new Error("no /celeste-config.json and no /__/firebase/init.json");
  const web = await init.json();
  return {
    projectId: web.projectId,
    apiKey: web.apiKey,
    authDomain: web.authDomain,
    functionsBaseUrl: `https://${REGION}-${web.projectId}.cloudfunctions.net`,
    stripeApiBase: null,
  };
}
