// The standalone binary: magicpak as one executable (Node's single executable application, built
// by `npm run build:sea`, sea/build.mjs). There the program is one CommonJS bundle inside a copy
// of the node binary, and the files the package keeps beside its code (the UPX WebAssembly
// artifact and glue, the UPX worker's code) are assets of the executable (sea/build.mjs names
// them). Everywhere else (the npm package) this process is no SEA and the files are read from disk.

import { createRequire } from "node:module";

type Sea = typeof import("node:sea");

let seaModule: Sea | null | undefined;

/**
 * node:sea, loaded on first use: a Node without it (before 20.12) must still start, and the npm
 * package never needs it. null when this Node has no such module.
 */
function seaApi(): Sea | null {
  if (seaModule === undefined) {
    try {
      seaModule = createRequire(import.meta.url)("node:sea") as Sea;
    } catch {
      seaModule = null;
    }
  }
  return seaModule;
}

/** The assets sea/build.mjs embeds, by key. */
export const SEA_ASSETS = {
  /** wasm/upx.wasm */
  upxWasm: "upx.wasm",
  /** wasm/upx.cjs, the emscripten glue */
  upxGlue: "upx.cjs",
  /** lib/compress/worker.ts bundled as one CommonJS script, run by `new Worker(code, { eval: true })` */
  upxWorker: "upx-worker.js",
} as const;

let standalone: boolean | undefined;

/** Whether this process is the standalone binary (sea.isSea() exists from Node 20.12 on). */
export function isStandalone(): boolean {
  if (standalone === undefined) {
    const sea = seaApi();
    standalone = typeof sea?.isSea === "function" && sea.isSea();
  }
  return standalone;
}

/** An embedded file's bytes (a copy). Only in the standalone binary. */
export function assetBytes(key: string): Uint8Array {
  return new Uint8Array(standaloneSea().getAsset(key));
}

/** An embedded file as UTF-8 text. Only in the standalone binary. */
export function assetText(key: string): string {
  return standaloneSea().getAsset(key, "utf8");
}

function standaloneSea(): Sea {
  const sea = seaApi();
  if (!sea || !isStandalone()) throw new Error("embedded assets exist only in the standalone binary");
  return sea;
}
