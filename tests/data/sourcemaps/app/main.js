import { loadSettings } from "./settings.js";

export function startApp() {
  return loadSettings(globalThis.APP_NAME || "demo");
}

try {
  startApp();
} catch (error) {
  console.log(JSON.stringify(error.stack));
}
