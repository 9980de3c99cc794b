// The standalone binary: magicpak as one executable (Node's single executable application, built
// by `npm run build:sea`, sea/build.mjs). There the program is one CommonJS bundle inside a copy
// of the node binary, and the files the package keeps beside its code (the UPX WebAssembly
// artifact and glue, the UPX worker's code) are assets of the executable (sea/build.mjs names
// them). Everywhere else (the npm package) this process is no SEA and the files are read from disk.

import * as sea from "node:sea";

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
  standalone ??= typeof sea.isSea === "function" && sea.isSea();
  return standalone;
}

/** An embedded file's bytes (a copy). Only in the standalone binary. */
export function assetBytes(key: string): Uint8Array {
  return new Uint8Array(sea.getAsset(key));
}

/** An embedded file as UTF-8 text. Only in the standalone binary. */
export function assetText(key: string): string {
  return sea.getAsset(key, "utf8");
}
