// The built-in UPX: UPX 4.2.4 compiled to WebAssembly (wasm/upx.wasm, emscripten glue
// wasm/upx.cjs; built by wasm/build.sh). This module runs one UPX invocation in the calling
// thread; lib/compress/upx.ts runs it in a worker thread.
//
// The WebAssembly.Module is compiled once per thread that asks for it and kept (a worker gets the
// main thread's compiled module by structured clone, which shares the compiled code); every run
// instantiates it afresh, because UPX keeps global state and expects a new process each time.
//
// In the standalone binary (lib/sea.ts) the artifact and the glue are assets of the executable,
// not files beside the code.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { compileFunction } from "node:vm";
import { SEA_ASSETS, assetBytes, assetText, isStandalone } from "../sea.js";
import type { UpxRun } from "./types.js";

/** The directory of the committed artifact (wasm/ at the top of the package). */
const WASM_DIR = fileURLToPath(new URL("../../../wasm/", import.meta.url));
const WASM_FILE = join(WASM_DIR, "upx.wasm");
const GLUE_FILE = join(WASM_DIR, "upx.cjs");

interface EmscriptenModuleArg {
  thisProgram: string;
  arguments: string[];
  env: Record<string, string>;
  stdioWrite(fd: number, bytes: Uint8Array): void;
  print(text: string): void;
  printErr(text: string): void;
  quit(status: number, toThrow: unknown): never;
  instantiateWasm(imports: WebAssembly.Imports, done: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void): WebAssembly.Exports;
  // Filled in by the glue:
  callMain?(args: string[]): number;
  closeFiles?(): void;
  ready?: Promise<unknown>;
}
/** emscripten 3.1.6's MODULARIZE factory: fills in and returns its argument. */
type Factory = (module: EmscriptenModuleArg) => unknown;

let factory: Factory | undefined;
let compiled: WebAssembly.Module | undefined;
let compiling: Promise<WebAssembly.Module> | undefined;

/** The emscripten glue, loaded once per thread. */
export function glue(): Factory {
  factory ??= isStandalone() ? embeddedGlue() : (createRequire(import.meta.url)(GLUE_FILE) as Factory);
  return factory;
}

/** The glue from the standalone binary's asset, run as the CommonJS module it is. */
function embeddedGlue(): Factory {
  const params = ["exports", "require", "module", "__filename", "__dirname"];
  const run = compileFunction(assetText(SEA_ASSETS.upxGlue), params, { filename: "upx.cjs" });
  const module = { exports: {} as unknown };
  // It requires only Node's built-in modules (fs, path), which any require() resolves.
  run(module.exports, createRequire(import.meta.url), module, "upx.cjs", ".");
  return module.exports as Factory;
}

/** The bytes of upx.wasm. */
function wasmBytes(): Uint8Array {
  return isStandalone() ? assetBytes(SEA_ASSETS.upxWasm) : readFileSync(WASM_FILE);
}

/** The compiled module, compiled off the main thread by V8 on first use and then kept. */
export function upxModule(): Promise<WebAssembly.Module> {
  if (compiled) return Promise.resolve(compiled);
  compiling ??= WebAssembly.compile(wasmBytes()).then(
    (module: WebAssembly.Module) => (compiled = module),
    (error: unknown) => {
      compiling = undefined;
      throw error;
    },
  );
  return compiling;
}

/** The compiled module, compiled synchronously if nobody asked for it before. */
export function upxModuleSync(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(wasmBytes());
  return compiled;
}

/** Keep a module compiled elsewhere (a worker receives the main thread's). */
export function adoptUpxModule(module: WebAssembly.Module): void {
  compiled = module;
}

/**
 * Run UPX with `args` (without argv[0]) in this thread, synchronously. Nothing is written to this
 * process's stdout or stderr: UPX's output is returned. `env` is the whole environment UPX sees.
 */
export function runUpxHere(args: readonly string[], env: Readonly<Record<string, string>>, module: WebAssembly.Module = upxModuleSync()): UpxRun {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const text = (chunks: Uint8Array[]): string => Buffer.concat(chunks).toString("utf8");
  const m: EmscriptenModuleArg = {
    thisProgram: "upx",
    arguments: [],
    env: { ...env },
    // A copy of the bytes, as an Int8Array (a slice of HEAP8).
    stdioWrite: (fd, bytes) => (fd === 2 ? err : out).push(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
    // The glue's own messages (an abort); UPX's output goes through stdioWrite.
    print: (line) => out.push(Buffer.from(`${line}\n`)),
    printErr: (line) => err.push(Buffer.from(`${line}\n`)),
    quit: (_status, toThrow) => {
      throw toThrow;
    },
    instantiateWasm: (imports, done) => {
      const instance = new WebAssembly.Instance(module, imports);
      done(instance, module);
      return instance.exports;
    },
  };
  // The factory runs synchronously (the module is instantiated by the hook above) and fills in
  // m.callMain; its m.ready promise only matters for an abort during start-up, reported below.
  let startError: unknown;
  try {
    glue()(m);
  } catch (error) {
    startError = error;
  }
  m.ready?.catch((error: unknown) => {
    startError ??= error;
  });
  if (!m.callMain) {
    return { exitCode: 127, stdout: text(out), stderr: text(err), crash: `the UPX WebAssembly module did not start: ${String(startError ?? "no callMain")}` };
  }
  try {
    const exitCode = m.callMain([...args]);
    return { exitCode, stdout: text(out), stderr: text(err) };
  } catch (error) {
    m.closeFiles?.();
    const message = error instanceof Error ? error.message : String(error);
    return { exitCode: 134, stdout: text(out), stderr: text(err), crash: message };
  }
}
