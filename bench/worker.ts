// Loads every file named on the command line through one Loader (the library API) and reports
// time, peak RSS and bytes read as JSON. Run by bench/resolve.ts in its own process.

import { readFileSync } from "node:fs";
import { Loader, InputError } from "../lib/index.js";

const files = readFileSync(process.argv[2]!, "utf8").split("\n").filter((f) => f !== "");
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
const ms = Number(process.hrtime.bigint() - started) / 1e6;
process.stdout.write(
  JSON.stringify({ files: files.length, ms, objects, failures, bytesRead: loader.bytesRead, maxRssKiB: process.resourceUsage().maxRSS }),
);
