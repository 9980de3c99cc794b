// The optional native addon (native/, Rust, built by `npm run build:native`): the real loader's
// answer through dlopen + dlinfo, and a ptrace tracer for --dynamic. Everything else works
// without it: absent or failing to load, nativeAddon() is null and nativeStatus() says why.
//
// Its blocking calls never run on the main thread: each runs in a worker thread (worker.ts), or,
// when the loader must see another environment than this process started with (LD_LIBRARY_PATH,
// LD_PRELOAD), in a fresh node process running worker.ts as a helper.

import { runProcess } from "../process.js";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { setVariables } from "../environment.js";
import { isStandalone } from "../sea.js";
import { registerTracer } from "../trace/index.js";
import { TracerUnavailable, type TraceRequest, type TraceResult, type TracedAccess } from "../trace/types.js";

/** What dlopen(name, RTLD_LAZY) loaded (l_name of its link map), or the dlerror() text. */
export interface NativeResolution {
  name: string;
  path: string | null;
  error: string | null;
}

export interface NativeTraceRequest {
  /** argv[0] is the program: a path (relative ones against cwd), else searched in env's PATH. */
  argv: string[];
  /** The file to execute instead of argv[0]. */
  file?: string;
  /** The whole environment (default: the addon's process's own). */
  env?: Record<string, string>;
  cwd?: string;
  /** Written to standard input, which is then closed (at once when absent). */
  stdin?: string | Uint8Array;
  timeoutMs?: number;
}

/** The addon's trace() result: a TraceResult with the output as bytes, and a few counts. */
export interface NativeTraceOutput {
  status: number | null;
  signal: string | null;
  stdout: Uint8Array;
  stderr: Uint8Array;
  accesses: TracedAccess[];
  tracer: "native";
  /** The timeout expired and every traced process was killed. */
  timedOut: boolean;
  /** Processes and threads traced, the first one included. */
  tasks: number;
  /** Output bytes read beyond the 64 MiB kept per stream. */
  droppedOutput: number;
  elapsedMs: number;
}

/** The functions native/src/lib.rs exports (the hand-written typing of the .node file). */
export interface NativeAddon {
  version(): string;
  /** The system calls trace() records on this architecture. */
  syscalls(): string[];
  /** Each name loaded in a child process of its own (fork); blocks until all are answered. */
  dlopenResolve(names: string[], options?: { timeoutMs?: number }): NativeResolution[];
  /** Runs and traces the program; blocks until every traced process has ended. */
  trace(request: NativeTraceRequest): NativeTraceOutput;
}

export interface NativeTraceResult extends TraceResult {
  tracer: "native";
  timedOut: boolean;
  tasks: number;
  droppedOutput: number;
  elapsedMs: number;
}

const packageRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** napi's platform suffix for this machine (`napi build --platform`). */
export function nativePlatform(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const libc = process.platform === "linux" ? (report?.header?.glibcVersionRuntime ? "gnu" : "musl") : null;
  return [process.platform, process.arch, libc].filter(Boolean).join("-");
}

/**
 * Where the addon is: $MAGICPAK_NATIVE when set (a path; "off" disables the addon), else
 * native/magicpak.<platform>.node in the package.
 */
export function nativeAddonPath(): string | null {
  const override = process.env["MAGICPAK_NATIVE"];
  if (override === "off" || override === "0") return null;
  if (override) return override;
  return `${packageRoot}native/magicpak.${nativePlatform()}.node`;
}

let state: { addon: NativeAddon; path: string } | { addon: null; reason: string } | null = null;

function load(): NonNullable<typeof state> {
  if (state) return state;
  const path = nativeAddonPath();
  if (path === null) return (state = { addon: null, reason: "disabled by MAGICPAK_NATIVE=off" });
  if (isStandalone()) return (state = { addon: null, reason: "the standalone binary does not embed it (the npm package can build and load it)" });
  if (!existsSync(path)) return (state = { addon: null, reason: `${display(path)} is absent (${remedy()})` });
  try {
    const addon = createRequire(import.meta.url)(path) as Partial<NativeAddon>;
    for (const name of ["version", "syscalls", "dlopenResolve", "trace"] as const) {
      if (typeof addon[name] !== "function") return (state = { addon: null, reason: `${display(path)} has no ${name}() (a different or outdated build)` });
    }
    return (state = { addon: addon as NativeAddon, path });
  } catch (error) {
    return (state = { addon: null, reason: `${display(path)} failed to load: ${(error as Error).message.split("\n")[0]}` });
  }
}

/** What a user can do without the addon: build it from a checkout, or (npm package, no native/ sources) use strace. */
function remedy(): string {
  if (existsSync(`${packageRoot}native/Cargo.toml`)) return "build it with npm run build:native";
  return "this installation has no native/ sources to build it from; --dynamic traces with strace instead: install strace";
}

function display(path: string): string {
  const rel = relative(packageRoot, path);
  return rel.startsWith("..") ? path : rel;
}

/** The loaded addon, or null when it is absent, disabled or failed to load (see nativeStatus()). */
export function nativeAddon(): NativeAddon | null {
  return load().addon;
}

/** One line for --version or a doctor report: "loaded (native/...node, 0.1.0)" or "not loaded: why". */
export function nativeStatus(): string {
  const s = load();
  return s.addon ? `loaded (${display(s.path)}, ${s.addon.version()})` : `not loaded: ${s.reason}`;
}

function requireAddon(): { addon: NativeAddon; path: string } {
  const s = load();
  if (!s.addon) throw new TracerUnavailable(`the native addon is not loaded: ${s.reason}`);
  return s;
}

// ---------------------------------------------------------------------------------------- off the main thread

/** A request to worker.ts, in a worker thread or a helper process. */
export type WorkerJob = { addonPath: string } & ({ op: "trace"; request: NativeTraceRequest } | { op: "resolve"; names: string[]; timeoutMs?: number });
export type WorkerAnswer = { ok: true; result: unknown } | { ok: false; error: string };

const workerUrl = new URL("./worker.js", import.meta.url);

function inWorker<T>(job: WorkerJob): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl, { workerData: job });
    let answered = false;
    worker.once("message", (answer: WorkerAnswer) => {
      answered = true;
      if (answer.ok) resolve(answer.result as T);
      else reject(new Error(answer.error));
    });
    worker.once("error", (error) => {
      answered = true;
      reject(error);
    });
    worker.once("exit", (code) => {
      if (!answered) reject(new Error(`the native addon's worker thread exited with code ${code} without an answer`));
    });
  });
}

/** Runs worker.ts as a fresh node process with exactly `env`, for an answer the loader gives there. */
async function inHelperProcess<T>(job: WorkerJob, env: Record<string, string>): Promise<T> {
  const { status, signal, stdout, stderr } = await runProcess(process.execPath, [fileURLToPath(workerUrl)], { env, stdin: JSON.stringify(job) });
  let answer: WorkerAnswer;
  try {
    answer = JSON.parse(stdout) as WorkerAnswer;
  } catch {
    throw new Error(`the native helper process ended (${signal ?? `status ${status}`}) without an answer: ${stderr.trim()}`);
  }
  if (answer.ok) return answer.result as T;
  throw new Error(answer.error);
}

/**
 * Runs and traces `request` with the native ptrace tracer, in a worker thread (the main thread
 * stays responsive). A relative argv[0] with a '/' is found from `cwd`, a bare name in PATH.
 */
export async function traceNative(request: TraceRequest): Promise<NativeTraceResult> {
  if (request.root !== undefined) throw new TracerUnavailable("the native tracer cannot trace inside --root (use strace)");
  const { path } = requireAddon();
  const native: NativeTraceRequest = { argv: request.argv, env: setVariables(request.env ?? process.env) };
  if (request.cwd !== undefined) native.cwd = request.cwd;
  if (request.stdin !== undefined) native.stdin = request.stdin;
  if (request.timeoutMs !== undefined) native.timeoutMs = request.timeoutMs;
  let out: NativeTraceOutput;
  try {
    out = await inWorker<NativeTraceOutput>({ addonPath: path, op: "trace", request: native });
  } catch (error) {
    // No ptrace here (a seccomp profile, a Yama policy): the tracer cannot run, the program may.
    if (/\(ptrace [A-Z_]+\)|ptrace\(PTRACE_SETOPTIONS\)/.test((error as Error).message)) throw new TracerUnavailable((error as Error).message);
    throw error;
  }
  const text = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  return { ...out, stdout: text(out.stdout), stderr: text(out.stderr), tracer: "native" };
}

export interface ResolveNativeOptions {
  /** LD_LIBRARY_PATH the loader searches (default: none, as for the TypeScript Loader). */
  libraryPath?: string | null;
  /** Per name (default 30 s): a constructor that hangs ends as an error. */
  timeoutMs?: number;
}

/**
 * Asks the real loader which file dlopen(name) loads, for each name, in a child process per name.
 * The loader reads LD_LIBRARY_PATH when a process starts, so unless this process started with
 * exactly the requested one (and no LD_PRELOAD), the children are forked by a fresh node process
 * started with it.
 */
export async function resolveNative(names: string[], options: ResolveNativeOptions = {}): Promise<NativeResolution[]> {
  const { path } = requireAddon();
  const job: WorkerJob = { addonPath: path, op: "resolve", names };
  if (options.timeoutMs !== undefined) job.timeoutMs = options.timeoutMs;
  const wanted = options.libraryPath ?? null;
  const own = process.env["LD_LIBRARY_PATH"] ?? null;
  if (own === wanted && !process.env["LD_PRELOAD"]) return inWorker<NativeResolution[]>(job);
  const env = setVariables(process.env);
  delete env["LD_LIBRARY_PATH"];
  delete env["LD_PRELOAD"];
  if (wanted !== null) env["LD_LIBRARY_PATH"] = wanted;
  return inHelperProcess<NativeResolution[]>(job, env);
}

// --dynamic prefers this tracer whenever the addon loads (lib/trace/index.ts).
registerTracer(
  "native",
  () => nativeAddon() !== null,
  traceNative,
  () => nativeStatus(),
);
