// Loads every file named on the command line through one Loader (the library API) and reports
// time, peak RSS and bytes read as JSON. Run by bench/resolve.ts in its own process.
//
//   node worker.js LIST [PASSES]
//
// With PASSES > 1 the same files are analysed again, each pass with a new Loader (so nothing the
// pass before read or found is reused: ELF files, directory listings, searches), and the times
// of every pass are reported: after the first, V8 has compiled magicpak's code, so later passes
// show what each further file costs in a long bulk job.

import { readFileSync } from "node:fs";
import { Loader, InputError } from "../lib/index.js";

const files = readFileSync(process.argv[2]!, "utf8")
  .split("\n")
  .filter((f) => f !== "");
const passes = Math.max(1, Number(process.argv[3] ?? 1));

function pass(): { ms: number; objects: number; failures: number; bytesRead: number } {
  const started = process.hrtime.bigint();
  const loader = new Loader("/");
  let objects = 0;
  let failures = 0;
  for (const file of files) {
    try {
      objects += loader.load(file).objects.length;
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      failures++;
    }
  }
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, objects, failures, bytesRead: loader.bytesRead };
}

const first = pass();
const passMs = [first.ms];
for (let i = 1; i < passes; i++) passMs.push(pass().ms);
process.stdout.write(JSON.stringify({ files: files.length, ...first, passMs, maxRssKiB: process.resourceUsage().maxRSS }));
