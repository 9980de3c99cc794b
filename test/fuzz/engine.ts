// A coverage-guided, mutation-based fuzzer in the manner of libFuzzer, for code running in this
// very isolate. Coverage is V8's own block coverage, read through node:inspector after every
// execution (Profiler.takePreciseCoverage with callCount and detailed: counters per basic block,
// reset by each take); an input that reaches a block not reached before, or a block a number of
// times in a new power-of-two bucket, joins the corpus. Only scripts of the library under test
// count (dist/lib), so the fuzzer's own code does not steer it.
//
// @jazzer.js/core is not used: its 4.x native addon is prebuilt against glibc 2.38 (this machine
// has 2.36) and its package ships no source to build from; 2.x downloads its prebuilt addon from
// GitHub at install time, which the registry-only network here cannot reach.

import { Session } from "node:inspector";

/** A deterministic PRNG (mulberry32), so that a run can be repeated from its seed. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

/** Block coverage of the scripts whose URL contains `scope`, as a set of feature numbers per execution. */
export class Coverage {
  private readonly session = new Session();
  private readonly scripts = new Map<string, number>();

  constructor(private readonly scope: string) {
    this.session.connect();
    this.post("Profiler.enable");
    this.post("Profiler.startPreciseCoverage", { callCount: true, detailed: true });
  }

  private post<T>(method: string, params: object = {}): T {
    // A session on the isolate's own thread answers synchronously.
    let result: T | undefined;
    let failure: Error | null = null;
    this.session.post(method, params, (error, value) => {
      failure = error;
      result = value as T;
    });
    if (failure) throw failure;
    return result!;
  }

  /** The features reached since the previous call (counters are reset by each take). */
  take(): number[] {
    const { result } = this.post<{ result: { url: string; functions: { ranges: { startOffset: number; endOffset: number; count: number }[] }[] }[] }>("Profiler.takePreciseCoverage");
    const features: number[] = [];
    for (const script of result) {
      if (!script.url.includes(this.scope)) continue;
      let index = this.scripts.get(script.url);
      if (index === undefined) this.scripts.set(script.url, (index = this.scripts.size));
      for (const fn of script.functions) {
        // A function not run in this execution tells nothing.
        if (fn.ranges[0]?.count === 0) continue;
        // V8 reports a nested range only where its count differs from the enclosing one: a branch
        // taken to the end of its function shows as the range after it with count 0, so ranges
        // with count 0 are features too.
        for (const range of fn.ranges) {
          // script (8 bits), block start (24 bits), bucket (4 bits), block end (16 low bits): exact in a double.
          features.push(((index * 0x1000000 + range.startOffset) * 16 + bucket(range.count)) * 0x10000 + (range.endOffset & 0xffff));
        }
      }
    }
    return features;
  }

  close(): void {
    this.post("Profiler.stopPreciseCoverage");
    this.session.disconnect();
  }
}

/** AFL's hit-count buckets: 0, 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+. */
function bucket(count: number): number {
  if (count <= 3) return count;
  if (count < 8) return 4;
  if (count < 16) return 5;
  if (count < 32) return 6;
  if (count < 128) return 7;
  return 8;
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 2, 4, 8, 16, 32, 64];
const INTERESTING_16 = [0, 1, 0x7fff, 0x8000, 0xffff, 0x100, 0x200, 0x400, 0x1000];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0x100000, 0x1000000, 0xfffffffe, 0x40000000];

export interface MutatorOptions {
  maxLength: number;
  dictionary: Buffer[];
}

/** libFuzzer's mutations, stacked 1 to 8 at a time. */
export class Mutator {
  constructor(
    private readonly random: Random,
    private readonly options: MutatorOptions,
  ) {}

  mutate(input: Buffer, other: () => Buffer): Buffer {
    let data: Buffer = Buffer.from(input);
    const count = 1 + Math.min(7, Math.floor(-Math.log2(this.random.next() + 1e-9)));
    for (let i = 0; i < count; i++) data = this.once(data, other);
    return data.length > this.options.maxLength ? data.subarray(0, this.options.maxLength) : data;
  }

  /** A position, biased towards the start, where headers and tables of binary formats are. */
  private position(length: number): number {
    if (length === 0) return 0;
    return this.random.chance(0.5) ? this.random.below(Math.min(length, 256)) : this.random.below(length);
  }

  private once(data: Buffer, other: () => Buffer): Buffer {
    const r = this.random;
    switch (r.below(14)) {
      case 0: {
        // Erase bytes.
        if (data.length < 2) return data;
        const at = this.position(data.length);
        const n = 1 + r.below(Math.min(16, data.length - at));
        return Buffer.concat([data.subarray(0, at), data.subarray(at + n)]);
      }
      case 1: {
        // Insert a byte, or a run of one byte.
        const at = this.position(data.length + 1);
        const n = r.chance(0.7) ? 1 : 1 + r.below(64);
        return Buffer.concat([data.subarray(0, at), Buffer.alloc(n, r.chance(0.5) ? r.pick(INTERESTING_8) : r.below(256)), data.subarray(at)]);
      }
      case 2:
        if (data.length > 0) data[this.position(data.length)] = r.below(256);
        return data;
      case 3:
        if (data.length > 0) data[this.position(data.length)]! ^= 1 << r.below(8);
        return data;
      case 4: {
        // An interesting integer of 1, 2, 4 or 8 bytes, either byte order, often aligned.
        if (data.length === 0) return data;
        const size = r.pick([1, 2, 4, 4, 8]);
        if (data.length < size) return data;
        let at = this.position(data.length - size + 1);
        if (r.chance(0.7)) at -= at % size;
        this.writeInteger(data, at, size, this.interesting(size, data.length), r.chance(0.5));
        return data;
      }
      case 5: {
        // Add a small delta to an integer of 2, 4 or 8 bytes.
        const size = r.pick([2, 4, 8]);
        if (data.length < size) return data;
        let at = this.position(data.length - size + 1);
        at -= at % size;
        const little = r.chance(0.5);
        const value = this.readInteger(data, at, size, little) + BigInt(r.below(33) - 16);
        this.writeInteger(data, at, size, value, little);
        return data;
      }
      case 6: {
        // Copy a chunk over another place, or insert it there.
        if (data.length < 2) return data;
        const from = r.below(data.length);
        const n = 1 + r.below(Math.min(64, data.length - from));
        const chunk = Buffer.from(data.subarray(from, from + n));
        const to = this.position(data.length);
        if (r.chance(0.5)) {
          chunk.copy(data, to, 0, Math.min(n, data.length - to));
          return data;
        }
        return Buffer.concat([data.subarray(0, to), chunk, data.subarray(to)]);
      }
      case 7: {
        // Cross over with another corpus input.
        const b = other();
        if (b.length === 0) return data;
        const from = r.below(b.length);
        const n = 1 + r.below(Math.min(256, b.length - from));
        const to = this.position(data.length + 1);
        if (r.chance(0.5)) return Buffer.concat([data.subarray(0, to), b.subarray(from, from + n), data.subarray(to)]);
        return Buffer.concat([data.subarray(0, to), b.subarray(from)]);
      }
      case 8:
      case 9: {
        // A dictionary word, inserted or written over.
        if (this.options.dictionary.length === 0) return data;
        const word = r.pick(this.options.dictionary);
        const at = this.position(data.length + 1);
        if (r.chance(0.5) && at + word.length <= data.length) {
          word.copy(data, at);
          return data;
        }
        return Buffer.concat([data.subarray(0, at), word, data.subarray(at)]);
      }
      case 10:
        // Truncate.
        return data.length > 1 ? data.subarray(0, r.below(data.length)) : data;
      case 11: {
        // Change an ASCII number.
        const text = data.toString("latin1");
        const numbers = [...text.matchAll(/\d+/g)];
        if (numbers.length === 0) return data;
        const m = r.pick(numbers);
        const replacement = String(r.pick([0, 1, Number(m[0]) + 1, Number(m[0]) - 1, 255, 65535, 4294967295, r.below(1000)]));
        return Buffer.concat([data.subarray(0, m.index), Buffer.from(replacement, "latin1"), data.subarray(m.index + m[0].length)]);
      }
      case 12: {
        // Shuffle a few bytes.
        if (data.length < 2) return data;
        const at = r.below(data.length - 1);
        const n = Math.min(2 + r.below(7), data.length - at);
        for (let i = n - 1; i > 0; i--) {
          const j = r.below(i + 1);
          [data[at + i], data[at + j]] = [data[at + j]!, data[at + i]!];
        }
        return data;
      }
      default: {
        // Overwrite an integer with an offset or size that lies inside the input: binary
        // formats are made of pointers into themselves.
        const size = r.pick([2, 4, 8]);
        if (data.length < size) return data;
        let at = this.position(data.length - size + 1);
        at -= at % size;
        this.writeInteger(data, at, size, BigInt(r.below(data.length + 1)), r.chance(0.5));
        return data;
      }
    }
  }

  private interesting(size: number, length: number): bigint {
    const r = this.random;
    if (r.chance(0.15)) return BigInt(length + r.below(9) - 4);
    if (size === 1) return BigInt(r.pick(INTERESTING_8));
    if (size === 2) return BigInt(r.pick(INTERESTING_16));
    if (size === 4) return BigInt(r.pick(INTERESTING_32));
    return r.pick([0n, 1n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n, 1n << 53n, (1n << 53n) - 1n, 1n << 32n, BigInt(r.pick(INTERESTING_32))]);
  }

  private readInteger(data: Buffer, at: number, size: number, little: boolean): bigint {
    let value = 0n;
    for (let i = 0; i < size; i++) value = (value << 8n) | BigInt(data[little ? at + size - 1 - i : at + i]!);
    return value;
  }

  private writeInteger(data: Buffer, at: number, size: number, value: bigint, little: boolean): void {
    let v = BigInt.asUintN(size * 8, value);
    for (let i = 0; i < size; i++) {
      data[little ? at + i : at + size - 1 - i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
}

/** What a target does with one input; it throws when a property does not hold. */
export interface Target {
  name: string;
  /** Inputs to start from (real files from the machine). */
  seeds(): Buffer[];
  dictionary: Buffer[];
  maxLength: number;
  /** Runs the input; returns normally for an accepted outcome (a result or one of the project's typed errors). */
  run(input: Buffer): void;
}

export interface Violation {
  target: string;
  /** error: an exception other than the project's typed errors, or a broken invariant. */
  kind: "error" | "slow" | "memory" | "hang" | "crash";
  detail: string;
  input: Buffer;
}

export interface FuzzStats {
  target: string;
  seed: number;
  executions: number;
  seconds: number;
  corpus: number;
  features: number;
  /** The slowest single execution, in milliseconds. */
  slowestMs: number;
  /** The largest heap (and external memory) growth seen across one execution, in bytes. */
  largestCallGrowth: number;
  /** Heap growth between warm-up and the end of the run, after full collections, less the corpus's own bytes. */
  heapGrowth: number;
  violations: Violation[];
}

export interface FuzzOptions {
  seconds: number;
  seed: number;
  /** Per-execution time limit (ms). */
  timeLimitMs: number;
  /** Largest allowed growth of heap plus external memory across one execution (bytes). */
  callMemoryLimit: number;
  /** Largest allowed heap growth over the whole run, after collection (bytes). */
  heapGrowthLimit: number;
  /** Called before each execution with the input, so that a watchdog can save it if the call never returns. */
  onInput?: (input: Buffer, executions: number) => void;
  /** Called with each input that joins the corpus. */
  onNewInput?: (input: Buffer) => void;
  /** Extra inputs to start from (a saved corpus). */
  corpus?: Buffer[];
  /** Called about every 10 seconds with the figures so far. */
  onProgress?: (stats: FuzzStats) => void;
}

const gc = (globalThis as { gc?: () => void }).gc;

function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Fuzzes one target for `options.seconds`; the target's module must be loaded after coverage starts. */
export function fuzz(target: Target, coverage: Coverage, options: FuzzOptions): FuzzStats {
  const random = new Random(options.seed);
  const mutator = new Mutator(random, { maxLength: target.maxLength, dictionary: target.dictionary });
  const seen = new Set<number>();
  const corpus: Buffer[] = [];
  const violations: Violation[] = [];
  const violated = new Set<string>();
  const stats: FuzzStats = {
    target: target.name,
    seed: options.seed,
    executions: 0,
    seconds: 0,
    corpus: 0,
    features: 0,
    slowestMs: 0,
    largestCallGrowth: 0,
    heapGrowth: 0,
    violations,
  };
  const started = performance.now();

  const execute = (input: Buffer): boolean => {
    options.onInput?.(input, stats.executions);
    const before = memory();
    const t0 = performance.now();
    let failure: unknown = null;
    try {
      target.run(input);
    } catch (error) {
      failure = error;
    }
    const elapsed = performance.now() - t0;
    const growth = memory() - before;
    stats.executions++;
    stats.slowestMs = Math.max(stats.slowestMs, elapsed);
    stats.largestCallGrowth = Math.max(stats.largestCallGrowth, growth);
    const report = (kind: Violation["kind"], detail: string, site: string) => {
      // One report per kind and place: the same bug is found over and over.
      const key = `${kind}:${site}`;
      if (violated.has(key)) return;
      violated.add(key);
      violations.push({ target: target.name, kind, detail, input: Buffer.from(input) });
    };
    if (failure !== null) {
      const stack = failure instanceof Error ? (failure.stack ?? failure.message) : String(failure);
      // The error's class and the first frame it was thrown from.
      const site = `${(failure as Error)?.name}@${/\n\s+at .*/.exec(stack)?.[0]?.trim() ?? ""}`;
      report("error", stack, site);
    }
    if (elapsed > options.timeLimitMs) report("slow", `one call took ${elapsed.toFixed(0)} ms (limit ${options.timeLimitMs} ms)`, "");
    if (growth > options.callMemoryLimit) report("memory", `one call grew the heap by ${(growth / 2 ** 20).toFixed(1)} MiB`, "");
    let fresh = false;
    for (const feature of coverage.take()) {
      if (!seen.has(feature)) {
        seen.add(feature);
        fresh = true;
      }
    }
    return fresh;
  };

  const keep = (input: Buffer) => {
    corpus.push(input);
    options.onNewInput?.(input);
  };

  coverage.take();
  const seeds = [...target.seeds(), ...(options.corpus ?? [])];
  for (const seed of seeds) {
    const input = seed.length > target.maxLength ? seed.subarray(0, target.maxLength) : seed;
    if (execute(input)) keep(input);
  }
  if (corpus.length === 0) keep(Buffer.alloc(0));

  gc?.();
  const corpusBytes = () => corpus.reduce((n, b) => n + b.length, 0);
  const baseline = memory() - corpusBytes();
  let warmedUp = false;
  let warmBaseline = baseline;
  const deadline = started + options.seconds * 1000;
  const other = () => random.pick(corpus);
  let nextProgress = performance.now() + 10_000;
  while (performance.now() < deadline) {
    if (options.onProgress && performance.now() > nextProgress) {
      nextProgress += 10_000;
      options.onProgress({ ...stats, seconds: (performance.now() - started) / 1000, corpus: corpus.length, features: seen.size });
    }
    // Recent finds are mutated more often: they sit on the frontier of what is reached.
    const parent = random.chance(0.3) ? corpus[corpus.length - 1 - random.below(Math.min(16, corpus.length))]! : random.pick(corpus);
    const child = mutator.mutate(parent, other);
    if (execute(child)) keep(child);
    if (!warmedUp && performance.now() > started + Math.min(5000, options.seconds * 200)) {
      warmedUp = true;
      gc?.();
      warmBaseline = memory() - corpusBytes();
    }
  }
  gc?.();
  stats.heapGrowth = memory() - corpusBytes() - warmBaseline;
  if (gc && stats.heapGrowth > options.heapGrowthLimit) {
    violations.push({
      target: target.name,
      kind: "memory",
      detail: `the heap grew by ${(stats.heapGrowth / 2 ** 20).toFixed(1)} MiB over ${stats.executions} executions (limit ${(options.heapGrowthLimit / 2 ** 20).toFixed(0)} MiB)`,
      input: Buffer.alloc(0),
    });
  }
  stats.seconds = (performance.now() - started) / 1000;
  stats.corpus = corpus.length;
  stats.features = seen.size;
  return stats;
}
