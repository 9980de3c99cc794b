// Benchmark: the dependency closure of every dynamic ELF under /usr/bin and /usr/sbin, by
// magicpak (one process for all files) and by its peers (libtree and ld.so --list one process
// per file, lddtree one process per file on a sample), in the same run. Prints a table.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { dynamicElfFiles } from "../test/support/ground-truth.js";
import { tool } from "../test/support/fixtures.js";

const here = new URL(".", import.meta.url).pathname;
const magicpak = join(here, "../../bin/magicpak.js");
const worker = join(here, "worker.js");
const LDSO = "/lib64/ld-linux-x86-64.so.2";

interface Row {
  tool: string;
  files: number;
  msPerFile: number;
  peakRssMiB: number | null;
  note: string;
}

/** Wall time and peak RSS (GNU time's %M, KiB) of one command. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): { ms: number; rssKiB: number; stdout: string } {
  const started = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%M", command, ...args], { encoding: "utf8", env, maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "pipe"] });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const rss = Number(/(\d+)\s*$/.exec(r.stderr)?.[1] ?? "0");
  return { ms, rssKiB: rss, stdout: r.stdout };
}

/** One process per file, started by xargs (the cheapest way to run a per-file tool in bulk). */
function perFile(label: string, listFile: string, count: number, argv: string[], note: string): Row {
  const r = timed("/usr/bin/xargs", ["-a", listFile, "-n", "1", ...argv]);
  return { tool: label, files: count, msPerFile: r.ms / count, peakRssMiB: r.rssKiB / 1024, note };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const scratch = mkdtempSync(join(tmpdir(), "magicpak-bench-"));
try {
  const { files: entries } = dynamicElfFiles(["/usr/bin", "/usr/sbin"]);
  const files = entries.map((e) => e.path);
  const listFile = join(scratch, "files.txt");
  writeFileSync(listFile, files.join("\n"));
  const everything = dynamicElfFiles(["/usr"]).files.map((e) => e.path);
  const allFile = join(scratch, "all.txt");
  writeFileSync(allFile, everything.join("\n"));

  const rows: Row[] = [];
  // magicpak, library API, one process.
  const api = timed(process.execPath, [worker, listFile]);
  const apiStats = JSON.parse(api.stdout) as { files: number; ms: number; bytesRead: number; maxRssKiB: number };
  rows.push({ tool: "magicpak (library API, 1 process)", files: files.length, msPerFile: api.ms / files.length, peakRssMiB: api.rssKiB / 1024, note: `analysis alone ${(apiStats.ms / files.length).toFixed(3)} ms/file; ${Math.round(apiStats.bytesRead / files.length)} bytes read/file` });
  // magicpak CLI, one process for all files.
  const cli = timed(process.execPath, [magicpak, "--list", ...files]);
  rows.push({ tool: "magicpak --list FILE... (1 process)", files: files.length, msPerFile: cli.ms / files.length, peakRssMiB: cli.rssKiB / 1024, note: "whole CLI run incl. Node start-up" });
  // Peers.
  const libtree = tool("libtree");
  rows.push(perFile("libtree (1 process per file)", listFile, files.length, [libtree], "libtree 3.1.1, run by xargs"));
  rows.push(perFile("ld.so --list (1 process per file)", listFile, files.length, [LDSO, "--list"], "glibc 2.36, run by xargs"));
  const lddtree = tool("lddtree");
  const sample = files.filter((_, i) => i % 10 === 0);
  const sampleFile = join(scratch, "sample.txt");
  writeFileSync(sampleFile, sample.join("\n"));
  rows.push(perFile("lddtree (1 process per file)", sampleFile, sample.length, [lddtree], "pax-utils lddtree.py, every 10th file, run by xargs"));

  // Single-file --list, wall time as a user sees it.
  const single = Array.from({ length: 7 }, () => timed(process.execPath, [magicpak, "--list", "/usr/bin/ssh"]).ms);
  // All of /usr in one process: peak RSS.
  const all = timed(process.execPath, [worker, allFile]);
  const allStats = JSON.parse(all.stdout) as { files: number; ms: number };

  const ours = rows[0]!.msPerFile;
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(`machine: ${cpus()[0]?.model ?? "?"} x${cpus().length}, node ${process.version}, ${files.length} dynamic ELF files under /usr/bin and /usr/sbin\n`);
  console.log(`| ${pad("tool", 38)} | files | ms/file | magicpak speed-up | peak RSS MiB | note`);
  console.log(`|${"-".repeat(40)}|-------|---------|-------------------|--------------|-----`);
  for (const row of rows) {
    console.log(
      `| ${pad(row.tool, 38)} | ${String(row.files).padStart(5)} | ${row.msPerFile.toFixed(3).padStart(7)} | ${(row.msPerFile / ours).toFixed(1).padStart(16)}x | ${(row.peakRssMiB ?? 0).toFixed(1).padStart(12)} | ${row.note}`,
    );
  }
  console.log(`\nsingle-file \`magicpak --list /usr/bin/ssh\`: median ${median(single).toFixed(0)} ms wall (7 runs)`);
  console.log(`all of /usr (${allStats.files} dynamic ELF files) in one process: ${(all.ms / 1000).toFixed(1)} s, peak RSS ${(all.rssKiB / 1024).toFixed(1)} MiB`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
