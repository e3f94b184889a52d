// Parses a setting; throws on anything that is not JSON.
export function parseConfig(text) {
  if (!text.startsWith("{")) {
    throw new Error("config is not JSON: " + text);
  }
  return JSON.parse(text);
}
