// Shared by the image tests: the provisioned container tools (skopeo, umoci, runc from bookworm,
// see test/fixtures/provision.sh), a scratch directory, a tree description to compare bundles
// and unpacked images, and a way to run a tool that fails the test with its stderr.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Test } from "tap";
import { fixture } from "../support/fixtures.js";

export interface ContainerTools {
  skopeo: string;
  umoci: string;
  runc: string;
  /** A signature policy that accepts anything (skopeo needs one; the system may have none). */
  policy: string;
}

/** The provisioned tools, or null after failing the test with the remedy (`npm run fixtures`). */
export function containerTools(t: Test): ContainerTools | null {
  try {
    return {
      skopeo: fixture("MAGICPAK_SKOPEO"),
      umoci: fixture("MAGICPAK_UMOCI"),
      runc: fixture("MAGICPAK_RUNC"),
      policy: fixture("MAGICPAK_SKOPEO_POLICY"),
    };
  } catch (error) {
    t.fail((error as Error).message);
    return null;
  }
}

export function scratchDir(t: Test, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `magicpak-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a command; a non-zero exit throws with the command line and its stderr. */
export function run(command: string, args: string[], options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(command, args, { encoding: "utf8", input: options.input ?? "", cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 1 << 28 });
  if (r.error) throw new Error(`${command} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${r.status ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Every entry below dir, sorted: type, path, mode, link target or content hash, link count. */
export function describeTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const st = lstatSync(join(dir, path));
      if (st.isSymbolicLink()) out.push(`l ${path} -> ${readlinkSync(join(dir, path))}`);
      else if (st.isDirectory()) {
        out.push(`d ${path} ${(st.mode & 0o7777).toString(8)}`);
        walk(path);
      } else {
        const hash = createHash("sha256")
          .update(readFileSync(join(dir, path)))
          .digest("hex")
          .slice(0, 16);
        out.push(`f ${path} ${(st.mode & 0o7777).toString(8)} ${hash} nlink=${st.nlink}`);
      }
    }
  };
  walk("");
  return out;
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Every file below dir with its bytes' hash, to compare two directories byte for byte. */
export function hashTree(dir: string): string[] {
  return describeTree(dir).map((line) => {
    const path = line.split(" ")[1]!;
    return line.startsWith("f ") ? `${line} ${sha256File(join(dir, path))}` : line;
  });
}
