import { parseConfig } from "./util.js";

export function loadSettings(name) {
  const raw = "name=" + name;
  return parseConfig(raw);
}
