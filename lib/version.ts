import { readFileSync } from "node:fs";

/** Set by the bundler for the standalone binary (sea/build.mjs), which has no package.json. */
declare const MAGICPAK_BUNDLED_VERSION: string | undefined;

/** The package version, read from package.json beside dist/. */
export const VERSION: string = (() => {
  if (typeof MAGICPAK_BUNDLED_VERSION === "string") return MAGICPAK_BUNDLED_VERSION;
  try {
    const url = new URL("../../package.json", import.meta.url);
    return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
  } catch {
    return "0.0.0";
  }
})();
