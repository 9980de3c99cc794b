// Compressing executables with UPX: the built-in UPX 4.2.4 (WebAssembly, run in worker threads of
// this process) or a native upx binary, with the same argument convention and the same result.
//
//   const r = await compressFile("/bundle/usr/bin/jq", "/tmp/jq.upx", ["--best"]);
//   r.inputSize, r.outputSize
//
// Nothing is written to this process's stdout or stderr: UPX's own report is in the result (or in
// the error), for a caller that wants to show it.

import { statSync, unlinkSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { setVariables } from "../environment.js";
import { pathExists } from "../fs/which.js";
import { SEA_ASSETS, assetText, isStandalone } from "../sea.js";
import type { UpxRun } from "./types.js";
import { runProcess } from "../process.js";
import { upxModule } from "./wasm.js";
import type { Job } from "./worker.js";
import { present } from "../present.js";

export type { UpxRun } from "./types.js";

/** Which UPX runs: the built-in one (default) or a native binary. */
export interface UpxOptions {
  /** Path of a native upx to run instead of the built-in one (magicpak's `--upx PATH`). */
  upx?: string | undefined;
  /** The environment UPX sees (it reads `UPX` for default options). Default: `process.env`. */
  env?: NodeJS.ProcessEnv | undefined;
}

export type CompressOptions = UpxOptions;

export interface CompressResult {
  input: string;
  output: string;
  inputSize: number;
  outputSize: number;
  /** "built-in" or the path of the native upx that ran. */
  engine: string;
  /** UPX's own report (its table on stdout, warnings on stderr), never printed by magicpak. */
  stdout: string;
  stderr: string;
}

/** Why UPX could not compress a file. */
export type CompressFailure =
  | "too-small" // "file is too small"
  | "already-packed" // AlreadyPackedException
  | "not-compressible" // NotCompressibleException: the packed file would not be smaller
  | "unsupported" // UnknownExecutableFormatException, CantPackException, NotPackableException, ...
  | "io" // the input cannot be read or the output written (FileNotFound, FileAlreadyExists, ...)
  | "usage" // UPX rejected its arguments
  | "crashed" // the built-in UPX trapped, or the native one was killed
  | "failed"; // anything else UPX reported

/** UPX could not compress `file`; `reason` is UPX's own message for it. */
export class CompressError extends Error {
  override readonly name = "CompressError";
  constructor(
    readonly file: string,
    readonly failure: CompressFailure,
    readonly reason: string,
    readonly exitCode: number | null,
    /** Everything UPX wrote to stderr. */
    readonly upxStderr: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

const BUILT_IN = "built-in";

/**
 * Compress `input` into `output` (which must not exist) with UPX: runs
 * `upx <upxArgs...> --no-progress <input> -o <output>`. Resolves with the sizes, or rejects with a
 * CompressError naming the file and UPX's reason; after a failure `output` does not exist.
 */
export async function compressFile(input: string, output: string, upxArgs: readonly string[] = [], options: CompressOptions = {}): Promise<CompressResult> {
  const existedBefore = pathExists(output);
  const args = [...upxArgs, "--no-progress", safeName(input), "-o", safeName(output)];
  const run = await runUpx(args, options);
  const engine = options.upx ?? BUILT_IN;
  const outputSize = run.exitCode === 0 && run.crash === undefined ? sizeOf(output) : null;
  if (outputSize !== null) {
    return { input, output, inputSize: sizeOf(input) ?? 0, outputSize, engine, stdout: run.stdout, stderr: run.stderr };
  }
  if (!existedBefore && pathExists(output)) unlinkSync(output);
  throw failure(input, run, engine);
}

/**
 * Run UPX with `args` (without the program name) and return its exit status and output. This is
 * the whole command line, so it also serves `-t`, `-d`, `-l`, `--version`.
 */
export function runUpx(args: readonly string[], options: UpxOptions = {}): Promise<UpxRun> {
  const env = setVariables(options.env ?? process.env);
  return options.upx === undefined ? pool.run([...args], env) : runNative(options.upx, args, env);
}

let warm: Promise<void> | undefined;

/**
 * Start the built-in UPX ahead of time: a worker thread, the compiled module, and a first run that
 * compiles UPX's start-up code, so that a later compressFile does not wait for them (call it when
 * compression is known to come, e.g. before analysing the inputs). Idempotent; nothing to do for
 * a native upx.
 */
export function warmUpUpx(options: UpxOptions = {}): Promise<void> {
  if (options.upx !== undefined) return Promise.resolve();
  warm ??= pool.run(["--version"], {}).then(() => undefined);
  return warm;
}

function failure(input: string, run: UpxRun, engine: string): CompressError {
  if (run.crash !== undefined) {
    return new CompressError(input, "crashed", `UPX (${engine}) crashed: ${run.crash}`, run.exitCode, run.stderr);
  }
  // UPX reports a file as "upx: FILE: Exception[: message]"; a usage error as "upx: message".
  const lines = run.stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const prefix = `upx: ${safeName(input)}: `;
  const fileLine = lines.find((l) => l.startsWith(prefix));
  const reason = fileLine?.slice(prefix.length) ?? lines.find((l) => l.startsWith("upx: "))?.slice(5) ?? (lines.at(-1) || `UPX exited with status ${run.exitCode}`);
  return new CompressError(input, classify(reason, fileLine !== undefined), reason, run.exitCode, run.stderr);
}

function classify(reason: string, aboutTheFile: boolean): CompressFailure {
  if (/file is too small/.test(reason)) return "too-small";
  if (/^AlreadyPackedException/.test(reason)) return "already-packed";
  if (/^NotCompressibleException/.test(reason)) return "not-compressible";
  if (/^(UnknownExecutableFormat|CantPack|NotPackable|CantUnpack|NotPacked)Exception/.test(reason)) return "unsupported";
  if (/^(FileNotFound|FileAlreadyExists|IO|Overlay)Exception/.test(reason)) return "io";
  return aboutTheFile ? "failed" : "usage";
}

/** A file name UPX takes as a file, never as an option. */
function safeName(path: string): string {
  return path.startsWith("-") ? `./${path}` : path;
}

function sizeOf(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------- native upx

async function runNative(upx: string, args: readonly string[], env: Record<string, string>): Promise<UpxRun> {
  let run;
  try {
    run = await runProcess(upx, args, { env });
  } catch (error) {
    return { exitCode: 127, stdout: "", stderr: `upx: ${upx}: ${(error as Error).message}\n` };
  }
  const { status, signal, stdout, stderr } = run;
  if (signal) return { exitCode: 128, stdout, stderr, crash: `killed by ${signal}` };
  return { exitCode: status ?? 1, stdout, stderr };
}

// ---------------------------------------------------------------------------- built-in upx

/**
 * Worker threads that run the built-in UPX, started on demand (at most one per core, at most 4),
 * kept for the next job and unref'd while idle so that they never keep the process alive. The
 * module is compiled once per process (in the background, while the first worker starts) and
 * posted to each worker with its first job.
 */
class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ job: Omit<Job, "id">; resolve: (r: UpxRun) => void }> = [];
  private readonly busy = new Map<Worker, { id: number; resolve: (r: UpxRun) => void }>();
  private readonly hasModule = new WeakSet<Worker>();
  private count = 0;
  private nextId = 1;
  private readonly max = Math.max(1, Math.min(4, availableParallelism()));

  run(args: string[], env: Record<string, string>): Promise<UpxRun> {
    return new Promise((resolve) => {
      this.queue.push({ job: { args, env }, resolve });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.pop();
      if (!worker) {
        if (this.count >= this.max) return;
        worker = this.spawn();
      }
      const { job, resolve } = present(this.queue.shift(), "the next queued UPX job"); // the loop saw one
      const id = this.nextId++;
      this.busy.set(worker, { id, resolve });
      worker.ref();
      const w = worker;
      if (this.hasModule.has(w)) {
        w.postMessage({ id, ...job } satisfies Job);
      } else {
        upxModule().then(
          (module) => {
            this.hasModule.add(w);
            w.postMessage({ id, ...job, module } satisfies Job);
          },
          (error: unknown) => this.finish(w, { exitCode: 127, stdout: "", stderr: "", crash: `cannot compile ${String(error)}` }),
        );
      }
    }
  }

  private spawn(): Worker {
    this.count++;
    // The worker writes nothing itself (UPX's output is captured in the worker and sent back). It
    // runs only our code: none of this process's Node options (--input-type, test loaders, ...).
    // The standalone binary has no worker.js on disk: the same code is one of its assets.
    const worker = isStandalone() ? new Worker(assetText(SEA_ASSETS.upxWorker), { eval: true, execArgv: [] }) : new Worker(new URL("./worker.js", import.meta.url), { execArgv: [] });
    worker.on("message", (m: UpxRun & { id: number }) => {
      const { id: _id, ...run } = m;
      this.finish(worker, run);
    });
    const gone = (why: string): void => {
      this.count--;
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
      const pending = this.busy.get(worker);
      this.busy.delete(worker);
      pending?.resolve({ exitCode: 134, stdout: "", stderr: "", crash: why });
      this.pump();
    };
    worker.on("error", (e) => gone(`the worker running UPX failed: ${e.message}`));
    worker.on("exit", (code) => {
      if (this.busy.has(worker) || this.idle.includes(worker)) gone(`the worker running UPX exited (${code})`);
    });
    return worker;
  }

  private finish(worker: Worker, run: UpxRun): void {
    const pending = this.busy.get(worker);
    this.busy.delete(worker);
    worker.unref();
    this.idle.push(worker);
    pending?.resolve(run);
    this.pump();
  }
}

const pool = new WorkerPool();
