// `npm run bench`: every benchmark in one run, one report. Waits (bounded) for a quiet machine,
// runs each benchmark module in turn (each returns its results as data, a Section), and writes
// bench/RESULTS.md: the machine's details, a summary of every goal, then each benchmark's tables,
// peers, method and notes. A benchmark during which other processes were busy is repeated once
// when the time budget allows, and the quieter run kept. Each benchmark also runs alone (npm run
// bench:resolve, bench:bundle, bench:upx) and prints its own section.
//
//   BENCH_QUIET_WAIT=S   wait at most S seconds for the load to fall below 0.5 first (default 180)
//   BENCH_ONLY="resolve upx"   run only these benchmarks (the report then says which ran)
//   BENCH_OUTPUT=FILE    write the report there instead of bench/RESULTS.md
//   BENCH_BUDGET=S       repeat noisy benchmarks only while the measuring has taken less than S s (default 420);
//                        BENCH_RETRY_ABOVE=F: when other processes used more than F of the CPU (default 0.15)

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuShares, cpuSnapshot, describeQuiet, fixed, loadString, machine, renderMachine, renderSection, renderTable, waitForQuiet, type Quiet, type Section } from "./common.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const output = process.env["BENCH_OUTPUT"] ?? join(here, "../../bench/RESULTS.md");

const benchmarks: Array<{ name: string; file: string; load: () => Promise<{ run: () => Promise<Section> }> }> = [
  { name: "resolve", file: "bench/resolve.ts", load: () => import("./resolve.js") },
  { name: "bundle", file: "bench/bundle.ts", load: () => import("./bundle.js") },
  { name: "upx", file: "bench/upx.ts (+ bench/upx-child.ts)", load: () => import("./upx.js") },
  { name: "dynamic", file: "bench/dynamic.ts", load: () => import("./dynamic.js") },
];
/** Seconds of measuring (after the first wait) within which benchmarks are repeated when the machine was busy. */
const BUDGET_S = Number(process.env["BENCH_BUDGET"] ?? 420);
const QUIET_WAIT_S = Number(process.env["BENCH_QUIET_WAIT"] ?? 180);
const RETRY_ABOVE = Number(process.env["BENCH_RETRY_ABOVE"] ?? 0.15);
const only = process.env["BENCH_ONLY"]?.split(/[\s,]+/).filter(Boolean);
const selected = benchmarks.filter((b) => !only || only.includes(b.name));

const t0 = Date.now();
const quiet = waitForQuiet(QUIET_WAIT_S);
const m = machine();
const measuringSince = Date.now();

type Outcome = { name: string; file: string; section?: Section; error?: string };

async function attempt(b: (typeof benchmarks)[number], q: Quiet): Promise<Outcome> {
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
    process.stderr.write(`bench: ${b.name}: ${fixed(section.durationS)} s; other processes used ${fixed(section.cpu.others * 100)}% of the CPU meanwhile\n`);
    return { name: b.name, file: b.file, section };
  } catch (error) {
    process.stderr.write(`bench: ${b.name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return { name: b.name, file: b.file, error: error instanceof Error ? error.message : String(error) };
  }
}

const sections: Outcome[] = [];
for (const [i, b] of selected.entries()) {
  // Between benchmarks the load average still counts the previous one; wait for an idle CPU only.
  sections.push(await attempt(b, i === 0 ? quiet : waitForQuiet(60, null)));
}

// A benchmark during which other processes used more than RETRY_ABOVE of the CPU runs once more
// (noisiest first) while the measuring stays within the budget; the run with less competition is kept.
const othersOf = (o: Outcome) => o.section?.cpu?.others ?? 0;
for (const i of sections.map((_, i) => i).sort((a, b) => othersOf(sections[b]!) - othersOf(sections[a]!))) {
  const first = sections[i]!;
  const firstS = first.section?.durationS ?? 0;
  if (!first.section || othersOf(first) <= RETRY_ABOVE) continue;
  if ((Date.now() - measuringSince) / 1000 + firstS + 60 > BUDGET_S) {
    first.section.notes.push(`Other processes used ${fixed(othersOf(first) * 100)}% of the CPU during this benchmark; there was no time left in the run's budget (${BUDGET_S} s) to repeat it.`);
    continue;
  }
  const again = await attempt(
    benchmarks.find((b) => b.name === first.name)!,
    waitForQuiet(60, null),
  );
  if (!again.section) continue;
  const [kept, dropped] = othersOf(again) < othersOf(first) ? [again, first] : [first, again];
  kept.section!.notes.push(
    `This benchmark ran twice, because other processes used ${fixed(othersOf(first) * 100)}% of the CPU during the first run; the second saw ${fixed(othersOf(again) * 100)}%. Shown: the ${kept === first ? "first" : "second"} run, the one with less competition (the other took ${fixed(dropped.section!.durationS ?? 0)} s).`,
  );
  sections[i] = kept;
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
  `The run waits (at most ${QUIET_WAIT_S} s) for the 1-minute load average to fall below 0.5 and the CPU to be idle before it starts, and for an idle CPU (at most 60 s) before each further benchmark; between benchmarks the load average still counts the benchmark before. A benchmark during which other processes used more than ${fixed(RETRY_ABOVE * 100)}% of the CPU runs once more if the run's budget allows, and the run with less competition is shown (its notes say so). The whole run took ${fixed(totalS)} s; load average at the end: ${loadString(loadAtEnd)}. Share of the machine's CPU time used by other processes during each benchmark (measured from /proc/stat minus the benchmark's own processes): ${sections.map((s) => `${s.name} ${s.section?.cpu ? `${fixed(s.section.cpu.others * 100)}%` : "n/a"}`).join(", ")}.${only ? ` Only these benchmarks ran (BENCH_ONLY): ${selected.map((b) => b.name).join(", ")}.` : ""}`,
  renderTable({
    caption: "## Summary of the goals",
    header: ["benchmark", "goal", "measured", "result"],
    align: ["l", "l", "l", "l"],
    rows: goals,
  }),
  ...sections.map((s) => (s.section ? `${renderSection(s.section)}\n\nSource: ${s.file}.` : `## ${s.name}\n\nThis benchmark failed in this run: ${s.error}`)),
].join("\n\n");

// The --from-image section is measured by bench/from-image.ts on its own: kept as it was.
const previous = existsSync(output) ? readFileSync(output, "utf8") : "";
const fromImage = previous.indexOf("## Slimming an image: --from-image");
writeFileSync(output, fromImage === -1 ? `${report}\n` : `${report}\n\n${previous.slice(fromImage)}`);
process.stderr.write(`bench: wrote ${output} in ${fixed(totalS)} s\n`);
for (const s of sections) {
  if (s.section?.quiet)
    process.stderr.write(
      `bench: ${s.name} (kept): ${fixed(s.section.durationS ?? 0)} s, load at start ${describeQuiet(s.section.quiet)}; CPU share of other processes during it ${fixed((s.section.cpu?.others ?? 0) * 100)}%\n`,
    );
}
if (sections.some((s) => s.error)) process.exitCode = 1;
