// npm run fuzz -- [SECONDS] [TARGET[=SECONDS]...] [--seed N] [--corpus DIR] [--artifacts DIR] [--json FILE]
//
// Fuzzes each target (all when none is named) for SECONDS (default 60) or its own =SECONDS, one
// after another, each in a worker thread watched from here. Properties: only the project's typed
// errors are thrown and results keep their invariants; no call takes longer than 1 s (a call
// still running after 10 s is stopped and reported as a hang); memory stays bounded (the worker's
// heap is capped at 1 GiB, one call may not grow heap plus external memory by more than 256 MiB,
// and the heap after collection may not grow by more than 64 MiB over the run). Inputs that break
// a property are written to the artifacts directory (default ./fuzz-artifacts); with --corpus the
// inputs that reached new code are kept there for the next run. Exits 1 when a property broke.
// Run with node --expose-gc (npm run fuzz does) for the heap growth check.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Worker } from "node:worker_threads";
import type { FuzzStats, Violation } from "./engine.js";
import type { WorkerMessage, WorkerRequest } from "./worker.js";

export const TARGET_NAMES = ["elf", "ld.so.cache", "ld.so.conf", "musl-path", "cli"];
/** The cli target runs a child process per input: its own limits (its child has a 30 s timeout). */
const SLOW_TARGETS: Record<string, { timeLimitMs: number; hangMs: number }> = { cli: { timeLimitMs: 20_000, hangMs: 40_000 } };
const TIME_LIMIT_MS = 1000;
const HANG_MS = 10_000;
const SHARED_INPUT_BYTES = 64 * 1024;

interface Options {
  runs: { target: string; seconds: number }[];
  seed: number;
  corpus: string | null;
  artifacts: string;
  json: string | null;
}

function parseArgs(argv: string[]): Options {
  let seconds = 60;
  let seed = Date.now() % 0x7fffffff;
  let corpus: string | null = null;
  let artifacts = "fuzz-artifacts";
  let json: string | null = null;
  const named: { target: string; seconds: number | null }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--seed") seed = Number(value());
    else if (arg === "--corpus") corpus = resolve(value());
    else if (arg === "--artifacts") artifacts = value();
    else if (arg === "--json") json = value();
    else if (/^\d+(\.\d+)?$/.test(arg)) seconds = Number(arg);
    else {
      const [target, own] = arg.split("=");
      if (!TARGET_NAMES.includes(target!)) throw new Error(`unknown target ${target}: one of ${TARGET_NAMES.join(", ")}`);
      named.push({ target: target!, seconds: own === undefined ? null : Number(own) });
    }
  }
  const runs = (named.length ? named : TARGET_NAMES.map((target) => ({ target, seconds: null }))).map((r) => ({ target: r.target, seconds: r.seconds ?? seconds }));
  return { runs, seed, corpus, artifacts, json };
}

function sha(input: Uint8Array): string {
  return createHash("sha1").update(input).digest("hex");
}

function loadCorpus(dir: string | null, target: string): Uint8Array[] {
  if (!dir || !existsSync(join(dir, target))) return [];
  return readdirSync(join(dir, target))
    .sort()
    .map((name) => readFileSync(join(dir, target, name)));
}

function runTarget(target: string, seconds: number, seed: number, corpus: Uint8Array[], scratch: string): Promise<{ stats: FuzzStats; corpus: Uint8Array[] }> {
  const shared = new SharedArrayBuffer(8 + SHARED_INPUT_BYTES);
  const header = new Int32Array(shared, 0, 2);
  const current = () => Buffer.from(new Uint8Array(shared, 8, Atomics.load(header, 0)));
  const request: WorkerRequest = {
    target,
    seconds,
    seed,
    shared,
    corpus,
    scratch,
    timeLimitMs: SLOW_TARGETS[target]?.timeLimitMs ?? TIME_LIMIT_MS,
    callMemoryLimit: 256 << 20,
    heapGrowthLimit: 64 << 20,
  };
  const worker = new Worker(new URL("./worker.js", import.meta.url), { workerData: request, resourceLimits: { maxOldGenerationSizeMb: 1024 } });
  const started = Date.now();
  let last: FuzzStats = { target, seed, executions: 0, seconds: 0, corpus: 0, features: 0, slowestMs: 0, largestCallGrowth: 0, heapGrowth: 0, violations: [] };
  return new Promise((done) => {
    let finished = false;
    const finish = (stats: FuzzStats, found: Uint8Array[]) => {
      if (finished) return;
      finished = true;
      clearInterval(watchdog);
      done({ stats, corpus: found });
    };
    const broken = (kind: Violation["kind"], detail: string) => {
      const input = current();
      finish({ ...last, executions: Math.max(last.executions, Atomics.load(header, 1)), seconds: (Date.now() - started) / 1000, violations: [{ target, kind, detail, input }] }, []);
    };
    let calls = 0;
    let lastChange = Date.now();
    const watchdog = setInterval(() => {
      const now = Atomics.load(header, 1);
      if (now !== calls) {
        calls = now;
        lastChange = Date.now();
      } else if (calls > 0 && Date.now() - lastChange > (SLOW_TARGETS[target]?.hangMs ?? HANG_MS)) {
        void worker.terminate();
        broken("hang", `a call did not return within ${(SLOW_TARGETS[target]?.hangMs ?? HANG_MS) / 1000} s`);
      }
    }, 500);
    worker.on("message", (message: WorkerMessage) => {
      if (message.kind === "progress") {
        last = message.stats;
        const s = message.stats;
        console.error(`[fuzz] ${target}: ${s.executions} executions in ${s.seconds.toFixed(0)} s (${(s.executions / s.seconds).toFixed(0)}/s), corpus ${s.corpus}, features ${s.features}`);
      } else {
        finish(message.stats, message.corpus);
      }
    });
    worker.on("error", (error: Error & { code?: string }) => {
      broken(error.code === "ERR_WORKER_OUT_OF_MEMORY" ? "memory" : "crash", error.stack ?? String(error));
    });
    worker.on("exit", (code) => {
      if (!finished) broken("crash", `the worker exited with code ${code} before reporting`);
    });
  });
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (typeof (globalThis as { gc?: unknown }).gc !== "function") console.error("[fuzz] run with node --expose-gc for the heap growth check");
  const scratch = mkdtempSync(join(tmpdir(), "magicpak-fuzz-"));
  const results: FuzzStats[] = [];
  try {
    for (const [i, run] of options.runs.entries()) {
      const seed = (options.seed + i) % 0x7fffffff;
      console.error(`[fuzz] ${run.target}: ${run.seconds} s, seed ${seed}`);
      const { stats, corpus } = await runTarget(run.target, run.seconds, seed, loadCorpus(options.corpus, run.target), scratch);
      if (options.corpus) {
        mkdirSync(join(options.corpus, run.target), { recursive: true });
        for (const input of corpus) writeFileSync(join(options.corpus, run.target, sha(input)), input);
      }
      for (const v of stats.violations) {
        mkdirSync(options.artifacts, { recursive: true });
        const file = join(options.artifacts, `${v.target}-${v.kind}-${sha(v.input).slice(0, 12)}`);
        writeFileSync(file, v.input);
        console.error(`[fuzz] ${v.target}: ${v.kind}: ${v.detail.split("\n").slice(0, 6).join("\n    ")}\n    input: ${file} (${v.input.length} bytes)`);
      }
      results.push(stats);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  console.log("target        executions  exec/s  corpus  features  slowest  call growth  heap growth  violations");
  for (const s of results) {
    console.log(
      `${s.target.padEnd(12)} ${String(s.executions).padStart(11)} ${(s.executions / Math.max(s.seconds, 0.001)).toFixed(0).padStart(7)} ${String(s.corpus).padStart(7)} ${String(s.features).padStart(9)} ${`${s.slowestMs.toFixed(0)} ms`.padStart(8)} ${`${mib(s.largestCallGrowth)} MiB`.padStart(12)} ${`${mib(s.heapGrowth)} MiB`.padStart(12)} ${String(s.violations.length).padStart(11)}`,
    );
  }
  if (options.json) {
    const plain = results.map((s) => ({ ...s, violations: s.violations.map((v) => ({ ...v, input: Buffer.from(v.input).toString("base64") })) }));
    writeFileSync(options.json, JSON.stringify(plain, null, 2));
  }
  if (results.some((s) => s.violations.length > 0)) process.exitCode = 1;
}

await main();
