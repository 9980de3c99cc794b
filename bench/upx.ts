// Benchmark: the built-in UPX (WebAssembly, lib/compress) against native UPX 4.2.4 (trixie's
// upx-ucl, provisioned by test/fixtures/provision.sh) on ls, bash and python3, default and --lzma,
// in the same run. Prints a table of times, ratios and peak RSS, then the compressor's fixed
// start-up cost against Node's own.
//
//   npm run bench:upx            (BENCH_UPX_REPS=N: N runs per case, N/2 for python3; default 5)
//
// Times are medians. "native" is the wall time of `upx ARGS --no-progress IN -o OUT` as a process.
// "built-in, warm" is compressFile() in a process where the compressor already ran once (worker
// started, module compiled, UPX's code compiled by V8): what each further file costs. "built-in,
// fresh process" is a fresh `node` process that imports the compressor and compresses once, Node's
// own start-up included: the worst case (the process then compresses the file a second time, warm;
// that run is not counted, but the peak RSS covers both). Peak RSS is the whole process's (GNU
// time's %M), Node's own ~40 MiB included for the built-in one.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "../test/support/fixtures.js";

const here = new URL(".", import.meta.url).pathname;
const child = join(here, "upx-child.js");
const upx = fixture("MAGICPAK_NATIVE_UPX");
const scratch = mkdtempSync(join(tmpdir(), "magicpak-bench-upx-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
const smallReps = Number(process.env["BENCH_UPX_REPS"] ?? 5);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Wall time and peak RSS of one command, via GNU time. */
function timed(command: string, args: string[]): { ms: number; rssMiB: number; stdout: string } {
  const t = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%M", command, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return { ms, rssMiB: Number(/(\d+)\s*$/.exec(r.stderr)?.[1] ?? 0) / 1024, stdout: r.stdout };
}

interface Row {
  name: string;
  inMiB: number;
  nativeMs: number;
  warmMs: number;
  coldMs: number;
  nativeRss: number;
  builtinRss: number;
  same: boolean;
}

const programs = [
  { name: "ls", path: "/usr/bin/ls" },
  { name: "bash", path: "/usr/bin/bash" },
  { name: "python3", path: "/usr/bin/python3.11" },
];
const argSets = [[], ["--lzma"]];
let n = 0;

const startLoad = loadavg().map((x) => x.toFixed(2)).join(" ");
const rows: Row[] = [];
for (const p of programs) {
  for (const args of argSets) {
    const size = statSync(p.path).size;
    const reps = size > 2 << 20 ? Math.ceil(smallReps / 2) : smallReps;
    const native: Array<{ ms: number; rssMiB: number }> = [];
    const built: Array<{ ms: number; rssMiB: number; warmMs: number; coldMs: number }> = [];
    let same = true;
    for (let i = 0; i < reps; i++) {
      // Alternate the two so that both see the same machine state.
      const nOut = join(scratch, `${++n}.native`);
      native.push(timed(upx, [...args, "--no-progress", p.path, "-o", nOut]));
      const bOut = join(scratch, `${++n}.builtin`);
      const b = timed(process.execPath, [child, "compress", bOut, p.path, ...args]);
      const j = JSON.parse(b.stdout) as { coldMs: number; warmMs: number };
      built.push({ ms: b.ms - j.warmMs, rssMiB: b.rssMiB, warmMs: j.warmMs, coldMs: j.coldMs });
      same &&= readFileSync(nOut).equals(readFileSync(`${bOut}.1`)) && readFileSync(nOut).equals(readFileSync(`${bOut}.2`));
      rmSync(nOut);
      rmSync(`${bOut}.1`);
      rmSync(`${bOut}.2`);
    }
    const row: Row = {
      name: `${p.name} ${args.join(" ") || "default"}`,
      inMiB: size / 2 ** 20,
      nativeMs: median(native.map((x) => x.ms)),
      warmMs: median(built.map((x) => x.warmMs)),
      coldMs: median(built.map((x) => x.ms)),
      nativeRss: Math.max(...native.map((x) => x.rssMiB)),
      builtinRss: Math.max(...built.map((x) => x.rssMiB)),
      same,
    };
    rows.push(row);
    process.stderr.write(`  ${row.name}: ${reps} run(s)\n`);
  }
}

const f = (x: number, d = 0) => x.toFixed(d);
const pad = (s: string, w: number) => s.padStart(w);
const header = ["case", "in MiB", "native ms", "built-in warm ms", "ratio", "built-in fresh process ms", "ratio", "native RSS MiB", "built-in RSS MiB", "same bytes"];
const table = rows.map((r) => [
  r.name,
  f(r.inMiB, 2),
  f(r.nativeMs),
  f(r.warmMs),
  `${f(r.warmMs / r.nativeMs, 2)}x`,
  f(r.coldMs),
  `${f(r.coldMs / r.nativeMs, 2)}x`,
  f(r.nativeRss),
  f(r.builtinRss),
  r.same ? "yes" : "NO",
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : pad(c, widths[i]!))).join(" | ")} |`;
console.log(`\nUPX: built-in (WebAssembly) vs native UPX 4.2.4, medians (${smallReps} runs per case, ${Math.ceil(smallReps / 2)} for files over 2 MiB; load average at the start ${startLoad})\n`);
console.log(line(header));
console.log(`|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`);
for (const row of table) console.log(line(row));

// ---------------------------------------------------------------------------- start-up
const N = 15;
const nodeOwn: number[] = [];
const cold: number[] = [];
const firstRun: number[] = [];
const nativeVersion: number[] = [];
let warm: number[] = [];
for (let i = 0; i < N; i++) {
  nodeOwn.push(timed(process.execPath, [child, "noop"]).ms);
  const v = timed(process.execPath, [child, "version", "", "0"]);
  cold.push(v.ms);
  firstRun.push((JSON.parse(v.stdout) as { firstMs: number }).firstMs);
  const w = timed(process.execPath, [child, "version", "", "20"]);
  warm = warm.concat((JSON.parse(w.stdout) as { warm: number[] }).warm);
  nativeVersion.push(timed(upx, ["--version"]).ms);
}
const nodeMs = median(nodeOwn);
console.log(`\nStart-up (\`upx --version\`), medians of ${N} processes:\n`);
console.log(`| what | ms |`);
console.log(`|---|---:|`);
console.log(`| Node's own start-up (\`node\` running an empty ESM script) | ${f(nodeMs, 1)} |`);
console.log(`| native upx --version, a process | ${f(median(nativeVersion), 1)} |`);
console.log(`| built-in, first run in a fresh process: import, worker, compile the module, V8's lazy compilation, run | ${f(median(firstRun), 1)} |`);
console.log(`| built-in, a whole fresh process running it once, minus Node's own start-up | ${f(median(cold) - nodeMs, 1)} |`);
console.log(`| built-in, warm (worker running, compiled module cached, UPX's code compiled): fixed cost per run | ${f(median(warm), 1)} |`);
