// One fuzzing run of one target, in a worker thread so that the main thread can watch it: the
// input under test is mirrored into shared memory before each call, with a call counter, so a
// call that never returns (or a worker that runs out of memory) still leaves its input behind.

import { parentPort, workerData } from "node:worker_threads";
import { Coverage, fuzz, type FuzzStats } from "./engine.js";

export interface WorkerRequest {
  target: string;
  seconds: number;
  seed: number;
  /** Int32 length, Int32 call counter, then the input's bytes. */
  shared: SharedArrayBuffer;
  corpus: Uint8Array[];
  scratch: string;
  timeLimitMs: number;
  callMemoryLimit: number;
  heapGrowthLimit: number;
}

export type WorkerMessage = { kind: "progress"; stats: FuzzStats } | { kind: "done"; stats: FuzzStats; corpus: Uint8Array[] };

const request = workerData as WorkerRequest;
// Coverage starts before the library is loaded, so that every function of it is compiled with block counters.
const coverage = new Coverage("/dist/lib/");
const { TARGETS, cleanupTargets, setScratchParent } = await import("./targets.js");
setScratchParent(request.scratch);
const header = new Int32Array(request.shared, 0, 2);
const bytes = new Uint8Array(request.shared, 8);
const found: Uint8Array[] = [];
try {
  const make = TARGETS[request.target];
  if (!make) throw new Error(`unknown fuzz target ${request.target}`);
  const stats = fuzz(make(), coverage, {
    seconds: request.seconds,
    seed: request.seed,
    timeLimitMs: request.timeLimitMs,
    callMemoryLimit: request.callMemoryLimit,
    heapGrowthLimit: request.heapGrowthLimit,
    corpus: request.corpus.map((b) => Buffer.from(b)),
    onInput(input) {
      const n = Math.min(input.length, bytes.length);
      bytes.set(input.subarray(0, n));
      Atomics.store(header, 0, n);
      Atomics.add(header, 1, 1);
    },
    onNewInput(input) {
      found.push(input);
    },
    onProgress(stats) {
      parentPort!.postMessage({ kind: "progress", stats } satisfies WorkerMessage);
    },
  });
  parentPort!.postMessage({ kind: "done", stats, corpus: found } satisfies WorkerMessage);
} finally {
  cleanupTargets();
  coverage.close();
}
