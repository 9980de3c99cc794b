// Paths of the provisioned test tools and roots (test/fixtures/provision.sh writes env.sh).
// A missing fixture is a test failure, never a skip: run `npm run fixtures`.

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export function cacheDir(): string {
  return process.env["MAGICPAK_CACHE"] ?? join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "magicpak-test");
}

let parsed: Record<string, string> | null = null;

/** A variable from env.sh (MAGICPAK_ARM64_ROOT, MAGICPAK_TOOLS, ...); throws with the remedy if absent. */
export function fixture(name: string): string {
  if (!parsed) {
    const file = join(cacheDir(), "env.sh");
    parsed = {};
    if (existsSync(file)) {
      for (const line of readFileSync(file, "utf8").split("\n")) {
        const m = /^export ([A-Z0-9_]+)='([^']*)'/.exec(line);
        if (m) parsed[m[1]!] = m[2]!;
      }
    }
  }
  const value = parsed[name];
  if (value === undefined || (value.startsWith(cacheDir()) && !existsSync(value))) {
    throw new Error(`test fixture ${name} is missing: run \`npm run fixtures\` (test/fixtures/provision.sh)`);
  }
  return value;
}

/** A provisioned tool by name, from MAGICPAK_TOOLS. */
export function tool(name: string): string {
  const path = join(fixture("MAGICPAK_TOOLS"), name);
  if (!existsSync(path)) throw new Error(`test tool ${name} is missing from ${fixture("MAGICPAK_TOOLS")}: run \`npm run fixtures\``);
  return path;
}
