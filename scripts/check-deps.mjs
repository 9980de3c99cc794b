#!/usr/bin/env node
// The one-way dependencies of lib/ (issue 17): elf <- fs <- loader <- graph <- {jail, image}
// <- stages <- bundle. A module may import from its own layer and from layers of a lower rank,
// never from a sibling or a higher one. The stages sit above the jail and the image writers
// because the test and images stages call them; neither of those knows the stages exist.
// Prints every import that breaks this, one per line, and exits 1.
// `npm run check:deps`; reads the TypeScript sources, so it needs no build.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, posix, relative } from "node:path";

const root = join(dirname(new URL(import.meta.url).pathname), "..");

/** Layers by rank; the most specific prefix names a file's layer. */
const LAYERS = [
  // lib/*.ts: errors, cleanup, processes, the environment, SEA assets, the version.
  { name: "base", rank: 0, prefixes: ["lib/"] },
  { name: "elf", rank: 1, prefixes: ["lib/elf/"] },
  { name: "trace", rank: 1, prefixes: ["lib/trace/"] },
  { name: "fs", rank: 2, prefixes: ["lib/fs/"] },
  { name: "loader", rank: 3, prefixes: ["lib/loader/"] },
  { name: "graph", rank: 4, prefixes: ["lib/graph/"] },
  { name: "native", rank: 4, prefixes: ["lib/native/"] },
  { name: "jail", rank: 5, prefixes: ["lib/jail/"] },
  { name: "image", rank: 5, prefixes: ["lib/image/"] },
  { name: "compress", rank: 5, prefixes: ["lib/compress/"] },
  { name: "report", rank: 5, prefixes: ["lib/report/"] },
  // The stages that build the plan (lib/bundle/stages and their helpers), and the packages its
  // files come from.
  { name: "stages", rank: 6, prefixes: ["lib/bundle/", "lib/provenance/"] },
  // The orchestrators that run the stages in order.
  { name: "bundle", rank: 7, prefixes: ["lib/bundle/bundle.ts", "lib/bundle/from-image.ts"] },
  { name: "api", rank: 8, prefixes: ["lib/index.ts", "bin/"] },
];

function layerOf(file) {
  let best = null;
  for (const layer of LAYERS) {
    for (const prefix of layer.prefixes) {
      if (file.startsWith(prefix) && (!best || prefix.length > best.prefix.length)) best = { layer, prefix };
    }
  }
  return best?.layer ?? null;
}

function sources(dir) {
  const out = [];
  for (const name of readdirSync(join(root, dir)).sort()) {
    const path = posix.join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

// Static imports and re-exports (also `import type`), and dynamic import("...").
const SPECIFIER = /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/g;

const violations = [];
let checked = 0;
for (const file of [...sources("lib"), ...sources("bin")]) {
  const from = layerOf(file);
  if (!from) continue;
  const text = readFileSync(join(root, file), "utf8");
  for (const match of text.matchAll(SPECIFIER)) {
    const specifier = match[1] ?? match[2];
    if (!specifier.startsWith(".")) continue;
    checked++;
    const target = posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, ".ts");
    const to = layerOf(target);
    if (!to || to === from) continue;
    if (to.rank < from.rank) continue;
    const line = text.slice(0, match.index).split("\n").length + (match[0].startsWith("\n") ? 1 : 0);
    violations.push(`${file}:${line}: ${from.name} (rank ${from.rank}) imports ${to.name} (rank ${to.rank}): ${specifier}`);
  }
}

for (const v of violations) console.log(v);
console.log(`${checked} imports checked, ${violations.length} against the layering (${relative(process.cwd(), root) || "."})`);
process.exitCode = violations.length === 0 ? 0 : 1;
