// `npm run bench`: every benchmark in one run, one report. Waits (bounded) for a quiet machine,
// runs each benchmark module in turn (each returns its results as data, a Section), and writes
// bench/RESULTS.md: the machine's details, a summary of every goal, then each benchmark's tables,
// peers, method and notes. Each benchmark also runs alone (npm run bench:resolve, bench:bundle,
// bench:upx) and prints its own section.
//
//   BENCH_QUIET_WAIT=S   wait at most S seconds for the load to fall below 0.5 first (default 300)
//   BENCH_ONLY="resolve upx"   run only these benchmarks (the report then says which ran)
//   BENCH_OUTPUT=FILE    write the report there instead of bench/RESULTS.md

import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuShares, cpuSnapshot, describeQuiet, fixed, loadString, machine, renderMachine, renderSection, renderTable, waitForQuiet, type Section } from "./common.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const output = process.env["BENCH_OUTPUT"] ?? join(here, "../../bench/RESULTS.md");

const benchmarks: Array<{ name: string; file: string; load: () => Promise<{ run: () => Promise<Section> }> }> = [
  { name: "resolve", file: "bench/resolve.ts", load: () => import("./resolve.js") },
  { name: "bundle", file: "bench/bundle.ts", load: () => import("./bundle.js") },
  { name: "upx", file: "bench/upx.ts (+ bench/upx-child.ts)", load: () => import("./upx.js") },
];
const only = process.env["BENCH_ONLY"]?.split(/[\s,]+/).filter(Boolean);
const selected = benchmarks.filter((b) => !only || only.includes(b.name));

const t0 = Date.now();
const quiet = waitForQuiet();
const m = machine();
const sections: Array<{ name: string; file: string; section?: Section; error?: string }> = [];
for (const [i, b] of selected.entries()) {
  // Between benchmarks the load average still counts the previous one; wait for an idle CPU only.
  const q = i === 0 ? quiet : waitForQuiet(60, null);
  process.stderr.write(`bench: ${b.name} (load ${loadString()})\n`);
  const started = Date.now();
  try {
    const module = await b.load();
    const cpu0 = cpuSnapshot();
    const section = await module.run();
    section.cpu = cpuShares(cpu0, cpuSnapshot());
    section.loadAtEnd = loadavg();
    section.quiet = q;
    section.durationS = (Date.now() - started) / 1000;
    sections.push({ name: b.name, file: b.file, section });
  } catch (error) {
    process.stderr.write(`bench: ${b.name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    sections.push({ name: b.name, file: b.file, error: error instanceof Error ? error.message : String(error) });
  }
}
const totalS = (Date.now() - t0) / 1000;
const loadAtEnd = loadavg();

const goals = sections.flatMap((s): string[][] => {
  if (!s.section) return [[s.name, "(the benchmark failed in this run)", "", "**not measured**"]];
  const name = s.section.title.split(":")[0]!;
  if (s.section.goals.length === 0) return [[name, "no numeric goal set (issue 7 asks for the figures only)", "see its section", ""]];
  return s.section.goals.map((g) => [name, g.goal, g.measured, g.met ? "met" : "**not met**"]);
});
const report = [
  "# Benchmark results",
  `Produced by \`npm run bench\` (bench/run.ts) on ${m.date}. These numbers are a measurement of this machine on this date (one run, with the load shown below), not a property of magicpak on every machine; run \`npm run bench\` again to measure yours. Each benchmark also runs alone: \`npm run bench:resolve\`, \`npm run bench:bundle\`, \`npm run bench:upx\`.`,
  renderMachine(m, quiet),
  `The run waits (at most ${process.env["BENCH_QUIET_WAIT"] ?? 300} s) for the 1-minute load average to fall below 0.5 and the CPU to be idle before it starts, and for an idle CPU (at most 60 s) before each further benchmark; between benchmarks the load average still counts the benchmark before. The whole run took ${fixed(totalS)} s; load average at the end: ${loadString(loadAtEnd)}. Share of the machine's CPU time used by other processes during each benchmark (measured from /proc/stat minus the benchmark's own processes): ${sections.map((s) => `${s.name} ${s.section?.cpu ? `${fixed(s.section.cpu.others * 100)}%` : "n/a"}`).join(", ")}.${only ? ` Only these benchmarks ran (BENCH_ONLY): ${selected.map((b) => b.name).join(", ")}.` : ""}`,
  renderTable({
    caption: "## Summary of the goals",
    header: ["benchmark", "goal", "measured", "result"],
    align: ["l", "l", "l", "l"],
    rows: goals,
  }),
  ...sections.map((s) =>
    s.section
      ? `${renderSection(s.section)}\n\nSource: ${s.file}.`
      : `## ${s.name}\n\nThis benchmark failed in this run: ${s.error}`,
  ),
].join("\n\n");

writeFileSync(output, `${report}\n`);
process.stderr.write(`bench: wrote ${output} in ${fixed(totalS)} s\n`);
for (const s of sections) {
  if (s.section?.quiet) process.stderr.write(`bench: ${s.name}: ${fixed(s.section.durationS ?? 0)} s, load at start ${describeQuiet(s.section.quiet)}; CPU share of other processes during it ${fixed((s.section.cpu?.others ?? 0) * 100)}%\n`);
}
if (sections.some((s) => s.error)) process.exitCode = 1;
