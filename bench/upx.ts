// Benchmark: the built-in UPX (WebAssembly, lib/compress) against native UPX 4.2.4 (trixie's
// upx-ucl, provisioned by test/fixtures/provision.sh) on ls, bash and python3, default and --lzma,
// in the same run: times, ratios and peak RSS, then the compressor's fixed
// start-up cost against Node's own.
//
//   npm run bench:upx            (BENCH_UPX_REPS=N: N runs per case, N/2 for files over 2 MiB; default 5)
//
// Times are medians. "native" is the wall time of `upx ARGS --no-progress IN -o OUT` as a process.
// "built-in, warm" is compressFile() in a process where the compressor already ran once (worker
// started, module compiled, UPX's code compiled by V8): what each further file costs. "built-in,
// fresh process" is a fresh `node` process that imports the compressor and compresses once, Node's
// own start-up included: the worst case (the process then compresses the file a second time, warm;
// that run is not counted, but the peak RSS covers both). Peak RSS is the whole process's (GNU
// time's %M), Node's own ~40 MiB included for the built-in one.

import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { debianVersion, fixed, median, runAlone, timed, upxPath, versionLine, type Section } from "./common.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const child = join(here, "upx-child.js");

interface Row {
  name: string;
  program: string;
  inMiB: number;
  reps: number;
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

export async function run(): Promise<Section> {
  const upx = upxPath();
  const smallReps = Math.max(1, Number(process.env["BENCH_UPX_REPS"] ?? 5));
  const startupRuns = 15;
  const scratch = mkdtempSync(join(tmpdir(), "magicpak-bench-upx-"));
  try {
    let n = 0;
    const rows: Row[] = [];
    for (const p of programs) {
      for (const args of argSets) {
        const size = statSync(p.path).size;
        const reps = size > 2 << 20 ? Math.ceil(smallReps / 2) : smallReps;
        const native: Array<{ ms: number; rssMiB: number }> = [];
        const built: Array<{ ms: number; rssMiB: number; warmMs: number }> = [];
        let same = true;
        for (let i = 0; i < reps; i++) {
          // Alternate the two so that both see the same machine state.
          const nOut = join(scratch, `${++n}.native`);
          const nat = timed(upx, [...args, "--no-progress", p.path, "-o", nOut]);
          native.push({ ms: nat.ms, rssMiB: nat.rssKiB / 1024 });
          const bOut = join(scratch, `${++n}.builtin`);
          const b = timed(process.execPath, [child, "compress", bOut, p.path, ...args]);
          const j = JSON.parse(b.stdout) as { coldMs: number; warmMs: number };
          built.push({ ms: b.ms - j.warmMs, rssMiB: b.rssKiB / 1024, warmMs: j.warmMs });
          const reference = readFileSync(nOut);
          same &&= reference.equals(readFileSync(`${bOut}.1`)) && reference.equals(readFileSync(`${bOut}.2`));
          for (const f of [nOut, `${bOut}.1`, `${bOut}.2`]) rmSync(f);
        }
        const row: Row = {
          name: `${p.name} ${args.join(" ") || "default"}`,
          program: p.name,
          inMiB: size / 2 ** 20,
          reps,
          nativeMs: median(native.map((x) => x.ms)),
          warmMs: median(built.map((x) => x.warmMs)),
          coldMs: median(built.map((x) => x.ms)),
          nativeRss: Math.max(...native.map((x) => x.rssMiB)),
          builtinRss: Math.max(...built.map((x) => x.rssMiB)),
          same,
        };
        rows.push(row);
        process.stderr.write(`  upx: ${row.name}: ${reps} run(s)\n`);
      }
    }

    // Start-up: `upx --version`, in fresh processes and warm.
    const nodeOwn: number[] = [];
    const cold: number[] = [];
    const firstRun: number[] = [];
    const nativeVersion: number[] = [];
    let warm: number[] = [];
    for (let i = 0; i < startupRuns; i++) {
      nodeOwn.push(timed(process.execPath, [child, "noop"]).ms);
      const v = timed(process.execPath, [child, "version", "", "0"]);
      cold.push(v.ms);
      firstRun.push((JSON.parse(v.stdout) as { firstMs: number }).firstMs);
      const w = timed(process.execPath, [child, "version", "", "20"]);
      warm = warm.concat((JSON.parse(w.stdout) as { warm: number[] }).warm);
      nativeVersion.push(timed(upx, ["--version"]).ms);
    }
    const nodeMs = median(nodeOwn);
    const warmFixed = median(warm);
    const freshOverhead = median(cold) - nodeMs;

    const goalRows = rows.filter((r) => r.program !== "ls");
    const list = (pick: (r: Row) => number) => goalRows.map((r) => `${r.name} ${fixed(pick(r) / r.nativeMs, 2)}x`).join(", ");
    const within = (pick: (r: Row) => number) => goalRows.every((r) => pick(r) / r.nativeMs <= 1.3);

    return {
      title: "Compression: built-in UPX (WebAssembly) vs native UPX 4.2.4",
      source: "issue 4 (built-in compression)",
      peers: [
        `native ${versionLine(upx, ["--version"])} (Debian trixie's upx-ucl ${debianVersion("upx-ucl") ?? "4.2.4"}, provisioned by test/fixtures/provision.sh); the built-in one is the same UPX 4.2.4 source compiled to WebAssembly (wasm/upx.wasm)`,
      ],
      method: [
        "ls, bash and /usr/bin/python3.11 of this machine, each with UPX's default method and with `--lzma`; the two alternate, one native run then one built-in run.",
        `Times are medians of ${smallReps} runs per case (${Math.ceil(smallReps / 2)} for files over 2 MiB). "native" is the wall time of \`upx ARGS --no-progress IN -o OUT\` as a process.`,
        '"built-in, warm" is `compressFile()` in a process where the compressor already ran once (worker started, module compiled, UPX\'s code compiled by V8): what each further file costs. "built-in, fresh process" is a fresh `node` process (bench/upx-child.ts) that imports the compressor and compresses once, Node\'s own start-up included; the process then compresses the file a second time, warm, which gives the warm figure and is not counted in the fresh one.',
        "Peak RSS is the whole process's (GNU time's %M), Node's own included for the built-in one. \"same bytes\": both built-in outputs of every run equal native UPX's output byte for byte.",
        `Start-up: \`upx --version\`, medians of ${startupRuns} fresh processes (and 20 warm runs in each of ${startupRuns} processes).`,
      ],
      tables: [
        {
          header: ["case", "in MiB", "runs", "native ms", "built-in warm ms", "ratio", "built-in fresh process ms", "ratio", "native RSS MiB", "built-in RSS MiB", "same bytes"],
          rows: rows.map((r) => [
            r.name,
            fixed(r.inMiB, 2),
            String(r.reps),
            fixed(r.nativeMs),
            fixed(r.warmMs),
            `${fixed(r.warmMs / r.nativeMs, 2)}x`,
            fixed(r.coldMs),
            `${fixed(r.coldMs / r.nativeMs, 2)}x`,
            fixed(r.nativeRss),
            fixed(r.builtinRss),
            r.same ? "yes" : "NO",
          ]),
        },
        {
          header: ["start-up (`upx --version`)", "ms"],
          rows: [
            ["Node's own start-up (`node` running an empty ESM script)", fixed(nodeMs, 1)],
            ["native upx --version, a process", fixed(median(nativeVersion), 1)],
            ["built-in, first run in a fresh process: import, worker, compile the module, V8's lazy compilation, run", fixed(median(firstRun), 1)],
            ["built-in, a whole fresh process running it once, minus Node's own start-up", fixed(freshOverhead, 1)],
            ["built-in, warm (worker running, compiled module cached, UPX's code compiled): fixed cost per run", fixed(warmFixed, 1)],
          ],
        },
      ],
      goals: [
        { goal: "at most 1.3x native on bash and python3: built-in warm", measured: list((r) => r.warmMs), met: within((r) => r.warmMs) },
        { goal: "stricter reading: at most 1.3x native on bash and python3 in a fresh process (Node's start-up included)", measured: list((r) => r.coldMs), met: within((r) => r.coldMs) },
        { goal: "compressor start-up under 50 ms beyond Node's own, compiled module cached (in the process: warm fixed cost per run)", measured: `${fixed(warmFixed, 1)} ms`, met: warmFixed < 50 },
        {
          goal: "stricter reading: start-up under 50 ms beyond Node's own in a fresh process (the compiled module is cached per process, so a fresh process compiles it)",
          measured: `${fixed(freshOverhead, 1)} ms`,
          met: freshOverhead < 50,
        },
        {
          goal: "byte-identical to native UPX (issue 4's tests; checked here on every run)",
          measured: rows.every((r) => r.same)
            ? "all cases"
            : `differs: ${rows
                .filter((r) => !r.same)
                .map((r) => r.name)
                .join(", ")}`,
          met: rows.every((r) => r.same),
        },
      ],
      notes: [
        "ls is not under the 1.3x goal: it is so small that the built-in compressor's fixed start-up in a fresh process dominates (the issue measured 3.6-5x there).",
        `How the goals are read: issue 4 asks the compressor to compile the module once per process and cache the compiled code between runs, and sets the start-up goal "when the compiled module is cached", so the start-up goal and the 1.3x goal are judged on runs in a process that has the module compiled (the warm figures). The fresh-process readings are printed too. For the shorter cases they are out of reach at UPX's warm speed: Node's own start-up here (${fixed(nodeMs, 0)} ms) plus the warm run already exceeds 1.3x native for ${
          goalRows
            .filter((r) => nodeMs + r.warmMs > 1.3 * r.nativeMs)
            .map((r) => r.name)
            .join(", ") || "no case in this run"
        }.`,
      ],
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await runAlone(import.meta.url, run);
