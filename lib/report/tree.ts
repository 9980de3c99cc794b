// A dependency tree in the manner of libtree: each object under the first object that needed it,
// with the reason it was found and, for a miss, every place that was tried.

import type { FoundBy, LoadGraph, LoadedObject } from "../loader/model.js";
import { present } from "../present.js";

const TAGS: Record<FoundBy, string> = {
  main: "",
  interpreter: "[interpreter]",
  preload: "[preload]",
  path: "[path]",
  rpath: "[rpath]",
  LD_LIBRARY_PATH: "[LD_LIBRARY_PATH]",
  runpath: "[runpath]",
  "ld.so.cache": "[ld.so.cache]",
  system: "[default path]",
  "musl-libc": "[musl libc]",
  "musl-path": "[musl path]",
  audit: "[audit]",
};

/**
 * The tree's lines. With `packageOf`, each object found gets "{package version}" (what it returns
 * for the object's real path: its package in the root's database, or "no package").
 */
export function formatTree(graph: LoadGraph, packageOf?: (realPath: string) => string): string[] {
  const pkg = (object: LoadedObject) => (packageOf ? ` {${packageOf(object.realPath)}}` : "");
  const out: string[] = [graph.input + (packageOf && graph.objects[0] ? pkg(graph.objects[0]) : "")];
  const shown = new Set<number>([0]);
  const visit = (object: LoadedObject, prefix: string) => {
    object.edges.forEach((edge, i) => {
      const last = i === object.edges.length - 1;
      const branch = prefix + (last ? "└── " : "├── ");
      const childPrefix = prefix + (last ? "    " : "│   ");
      if (edge.target === null) {
        const missing = edge.missing !== null ? graph.missing[edge.missing] : undefined;
        out.push(`${branch}${edge.name} ${missing?.fatal ? `error: ${missing.fatal}` : "not found"}`);
        for (const attempt of missing?.attempts ?? []) out.push(`${childPrefix}    tried ${attempt.path} [${attempt.via}]: ${attempt.rejection === "absent" ? attempt.detail : attempt.rejection}`);
        return;
      }
      const child = present(graph.objects[edge.target], `loaded object ${edge.target}`);
      // Each object is shown in full under the object that loaded it (its l_loader, first in
      // breadth-first order); everywhere else it is a reference.
      const home = child.loader === object.index && child.name === edge.name && !shown.has(child.index);
      const tag = home || child.foundBy === "interpreter" ? TAGS[child.foundBy] : "[already loaded]";
      out.push(
        `${branch}${edge.name} => ${child.path || child.realPath} ${tag}${child.variants.length ? ` (also: ${child.variants.join(", ")})` : ""}${home || child.foundBy === "interpreter" ? pkg(child) : ""}`,
      );
      if (home) {
        shown.add(child.index);
        visit(child, childPrefix);
      }
    });
  };
  visit(present(graph.objects[0], "the main object"), "");
  for (const audit of graph.audit) {
    out.push(`audit module (its own namespace):`);
    out.push(...formatTree(audit, packageOf).map((line) => `  ${line}`));
  }
  if (graph.error) out.push(`error: ${graph.error}`);
  return out;
}
