// Shared by the benchmarks: measuring a command (wall time, peak RSS), medians, the machine's
// details and quietness, the peers' versions, and the result of a benchmark as data (a Section)
// with its Markdown rendering. bench/run.ts runs every benchmark and writes bench/RESULTS.md;
// each benchmark module also runs alone and prints its own section.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { cpus, loadavg, release, totalmem, version as kernelVersion } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { cacheDir, fixture } from "../test/support/fixtures.js";

// ------------------------------------------------------------------------------- measuring

export interface Measured {
  /** Wall time in milliseconds, from spawn to exit, as the caller sees it. */
  ms: number;
  /** Peak RSS in KiB (GNU time's %M: the largest of the process and its reaped descendants). */
  rssKiB: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one command under GNU time, returning its wall time and peak RSS. Throws if it fails, unless `allowFailure`. */
export function timed(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; allowFailure?: boolean; cwd?: string } = {}): Measured {
  const started = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%M", command, ...args], {
    encoding: "utf8",
    env: options.env ?? process.env,
    cwd: options.cwd,
    maxBuffer: 1 << 28,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.error) throw r.error;
  const m = /(\d+)\s*$/.exec(r.stderr);
  if (!options.allowFailure && r.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stderr.slice(-2000)}`);
  }
  return { ms, rssKiB: Number(m?.[1] ?? 0), status: r.status, stdout: r.stdout, stderr: r.stderr.replace(/(Command exited with non-zero status \d+\n)?\d+\s*$/, "") };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export const fixed = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : "n/a");
export const mib = (bytes: number, digits = 1): string => fixed(bytes / 2 ** 20, digits);

/** A Node process that runs an empty ESM script: Node's own start-up on this machine (median ms of `runs`). */
export function nodeStartupMs(runs = 9): number {
  const empty = fileURLToPath(new URL("./empty.js", import.meta.url));
  return median(Array.from({ length: runs }, () => timed(process.execPath, [empty]).ms));
}

// ------------------------------------------------------------------------------- the machine

export interface Machine {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
  virtualised: boolean;
}

export function machine(): Machine {
  const cpuinfo = readText("/proc/cpuinfo");
  const osRelease = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readText("/etc/os-release"))?.[1] ?? "unknown";
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: totalmem() / 2 ** 30,
    kernel: `Linux ${release()} (${kernelVersion()})`,
    os: osRelease,
    node: process.version,
    virtualised: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo),
  };
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export const loadString = (l: number[] = loadavg()): string => l.map((x) => x.toFixed(2)).join(" / ");

/** The share of CPU time (all cores) that was busy over `ms`, from /proc/stat. */
export function cpuBusy(ms = 2000): number {
  const sample = () => {
    const f = readText("/proc/stat").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = sample();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const b = sample();
  return b.total === a.total ? 0 : 1 - (b.idle - a.idle) / (b.total - a.total);
}

export interface CpuSnapshot {
  /** Jiffies of all CPUs together: total, and busy (neither idle nor waiting for I/O). */
  total: number;
  busy: number;
  /** Jiffies of this process and its reaped descendants (utime, stime, cutime, cstime). */
  own: number;
}

export function cpuSnapshot(): CpuSnapshot {
  const f = readText("/proc/stat").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const stat = readText("/proc/self/stat");
  const fields = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  // After the command name: state is field 3, so utime..cstime (14..17) are at 11..14 here.
  const own = fields.slice(11, 15).reduce((a, b) => a + b, 0);
  return { total, busy: total - (f[3] ?? 0) - (f[4] ?? 0), own };
}

/** Between two snapshots: the shares of the machine's CPU time used by this benchmark's processes and by everything else. */
export function cpuShares(a: CpuSnapshot, b: CpuSnapshot): { own: number; others: number } {
  const total = b.total - a.total;
  if (total <= 0) return { own: 0, others: 0 };
  const own = b.own - a.own;
  return { own: own / total, others: Math.max(0, b.busy - a.busy - own) / total };
}

export interface Quiet {
  /** Load averages (1, 5, 15 min) when we started looking. */
  loadFirst: number[];
  /** Load averages when measuring began. */
  loadAtStart: number[];
  /** CPU busy share over 2 s just before measuring began (our own process idle). */
  busyAtStart: number;
  waitedS: number;
  /** The 1-minute load average waited for (null: only an idle CPU was waited for). */
  threshold: number | null;
  /** Whether the machine was quiet (load below the threshold, CPU idle) when measuring began. */
  quiet: boolean;
}

/** "1.23 / 0.80 / 0.50; CPU 2% busy over 2 s (after waiting 40 s; before: ...)". */
export function describeQuiet(q: Quiet): string {
  let s = `${loadString(q.loadAtStart)}; CPU ${fixed(q.busyAtStart * 100)}% busy over 2 s`;
  if (q.waitedS >= 3) {
    const still = q.quiet ? "" : q.threshold !== null && q.loadAtStart[0]! >= q.threshold ? `, still not below ${q.threshold}` : ", CPU still busy";
    s += ` (after waiting ${fixed(q.waitedS)} s${still}; before waiting: ${loadString(q.loadFirst)})`;
  }
  return s;
}

/**
 * Waits (at most `maxWaitS`) until the 1-minute load average is below `threshold` (unless null:
 * between benchmarks it still counts our own previous one) and the CPU is idle (under 10% busy
 * over 2 s), then says what the load was. Never fails: a busy machine is reported, not refused.
 */
export function waitForQuiet(maxWaitS = Number(process.env["BENCH_QUIET_WAIT"] ?? 180), threshold: number | null = 0.5, log = true): Quiet {
  const loadFirst = loadavg();
  const t0 = Date.now();
  let busy = cpuBusy();
  let said = false;
  while (((threshold !== null && loadavg()[0]! >= threshold) || busy > 0.1) && (Date.now() - t0) / 1000 < maxWaitS) {
    if (log && !said) {
      const what = threshold === null ? "the CPU to be idle" : `the 1-minute load to fall below ${threshold} and the CPU to be idle`;
      process.stderr.write(`bench: load ${loadString()}, CPU ${fixed(busy * 100)}% busy: waiting up to ${maxWaitS} s for ${what}\n`);
      said = true;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
    busy = cpuBusy();
  }
  const loadAtStart = loadavg();
  const waitedS = (Date.now() - t0) / 1000;
  if (log && said) process.stderr.write(`bench: after ${fixed(waitedS)} s: load ${loadString(loadAtStart)}, CPU ${fixed(busy * 100)}% busy\n`);
  return { loadFirst, loadAtStart, busyAtStart: busy, waitedS, threshold, quiet: (threshold === null || loadAtStart[0]! < threshold) && busy <= 0.1 };
}

// ------------------------------------------------------------------------------- the peers

/** The Debian package version of a provisioned package (from its unpacked changelog), or null. */
export function debianVersion(pkg: string): string | null {
  const docs = join(cacheDir(), "host/usr/share/doc", pkg);
  for (const name of ["changelog.Debian.gz", "changelog.gz"]) {
    const file = join(docs, name);
    if (!existsSync(file)) continue;
    const r = spawnSync("gzip", ["-dc", file], { encoding: "utf8", maxBuffer: 1 << 26 });
    const m = /^\S+ \(([^)]+)\)/.exec(r.stdout ?? "");
    if (m) return m[1]!;
  }
  // The package's .deb in the provisioning's apt archives.
  for (const dist of existsSync(join(cacheDir(), "apt")) ? readdirSync(join(cacheDir(), "apt")) : []) {
    const archives = join(cacheDir(), "apt", dist, "archives");
    if (!existsSync(archives)) continue;
    const deb = readdirSync(archives).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
    if (deb) return decodeURIComponent(deb.split("_")[1]!).replace(/^\d+%3a/, "");
  }
  return null;
}

/** The first line a command prints for its version option. */
export function versionLine(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: "utf8" });
  return (
    `${r.stdout ?? ""}${r.stderr ?? ""}`
      .split("\n")
      .find((l) => l.trim() !== "")
      ?.trim() ?? "unknown"
  );
}

export const LDSO = "/lib64/ld-linux-x86-64.so.2";

/** The provisioned lddtree and what it is: pax-utils' lddtree.py on the system python with pyelftools. */
export function lddtreeVersion(): string {
  return `lddtree.py from pax-utils ${debianVersion("pax-utils") ?? "?"} (Debian bookworm), with pyelftools ${debianVersion("python3-pyelftools") ?? "?"}, on ${versionLine("/usr/bin/python3", ["--version"])}`;
}

export function upxPath(): string {
  return fixture("MAGICPAK_NATIVE_UPX");
}

// ------------------------------------------------------------------------------- results as data

export interface Table {
  caption?: string;
  header: string[];
  /** "l" or "r" per column (default: first left, the rest right). */
  align?: Array<"l" | "r">;
  rows: string[][];
}

export interface Goal {
  goal: string;
  measured: string;
  met: boolean;
}

export interface Section {
  title: string;
  /** Which issue's figures it reports. */
  source: string;
  peers: string[];
  method: string[];
  tables: Table[];
  goals: Goal[];
  notes: string[];
  /** Filled in by the runner. */
  quiet?: Quiet;
  durationS?: number;
  /** Shares of the machine's CPU time during the benchmark: its own processes, and all others. */
  cpu?: { own: number; others: number };
  loadAtEnd?: number[];
}

export function renderTable(t: Table): string {
  const align = t.align ?? t.header.map((_, i) => (i === 0 ? "l" : "r"));
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const rows = [t.header, ...t.rows].map((r) => r.map(esc));
  const widths = t.header.map((_, i) => Math.max(3, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (align[i] === "l" ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (align[i] === "l" ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  const out = [line(rows[0]!), rule, ...rows.slice(1).map(line)].join("\n");
  return t.caption ? `${t.caption}\n\n${out}` : out;
}

export function renderSection(s: Section, level = 2): string {
  const h = "#".repeat(level);
  const parts: string[] = [`${h} ${s.title}`, `Figures and goals from ${s.source}.`];
  const timing: string[] = [];
  if (s.quiet) timing.push(`Load average (1 / 5 / 15 min) when this benchmark started: ${describeQuiet(s.quiet)}.`);
  if (s.durationS !== undefined) timing.push(`This benchmark took ${fixed(s.durationS)} s.`);
  if (s.cpu) {
    timing.push(
      `During it, its own processes used ${fixed(s.cpu.own * 100)}% of the machine's CPU time and other processes ${fixed(s.cpu.others * 100)}%${s.cpu.others > 0.05 ? " (the machine was not quiet: other work competed with these measurements)" : ""}; load average at its end: ${loadString(s.loadAtEnd)}.`,
    );
  }
  if (timing.length) parts.push(timing.join(" "));
  parts.push(`**Peers:**\n\n${s.peers.map((p) => `- ${p}`).join("\n")}`);
  parts.push(`**Method:**\n\n${s.method.map((p) => `- ${p}`).join("\n")}`);
  for (const t of s.tables) parts.push(renderTable(t));
  if (s.goals.length) {
    parts.push(
      renderTable({
        caption: "**Goals:**",
        header: ["goal", "measured", "result"],
        align: ["l", "l", "l"],
        rows: s.goals.map((g) => [g.goal, g.measured, g.met ? "met" : "**not met**"]),
      }),
    );
  }
  if (s.notes.length) parts.push(`**Notes:**\n\n${s.notes.map((n) => `- ${n}`).join("\n")}`);
  return parts.join("\n\n");
}

export function renderMachine(m: Machine, quiet: Quiet): string {
  return renderTable({
    header: ["machine", ""],
    align: ["l", "l"],
    rows: [
      ["date (UTC)", m.date],
      ["CPU", `${m.cpu}${m.virtualised ? " (virtual machine)" : ""}`],
      ["cores", String(m.cores)],
      ["memory", `${fixed(m.memoryGiB, 1)} GiB`],
      ["kernel", m.kernel],
      ["system", m.os],
      ["node", m.node],
      ["load average at start (1 / 5 / 15 min)", describeQuiet(quiet)],
    ],
  });
}

/**
 * For a benchmark module: when it is the program node was started with, wait for a quiet machine,
 * run it and print its section in Markdown (with the machine's details) on stdout.
 */
export async function runAlone(moduleUrl: string, run: () => Promise<Section>, then?: (sectionText: string, date: string) => string): Promise<void> {
  if (!process.argv[1] || pathToFileURL(process.argv[1]).href !== moduleUrl) return;
  const quiet = waitForQuiet();
  const m = machine();
  const t0 = Date.now();
  const cpu0 = cpuSnapshot();
  const section = await run();
  section.cpu = cpuShares(cpu0, cpuSnapshot());
  section.loadAtEnd = loadavg();
  section.quiet = quiet;
  section.durationS = (Date.now() - t0) / 1000;
  // `then` may add to the section (and store it); what it returns is printed.
  const text = then ? then(renderSection(section), m.date) : renderSection(section);
  process.stdout.write(`${renderMachine(m, quiet)}\n\n${text}\n`);
}
