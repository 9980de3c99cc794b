// The lines the loader prints in trace mode (glibc rtld.c, LD_TRACE_LOADED_OBJECTS; musl ldd mode),
// without the " (0x...)" addresses and the vDSO line.

import type { LoadGraph } from "../loader/model.js";
import { present } from "../present.js";

export interface TraceOutput {
  /** Lines for standard output, each starting with a tab. */
  lines: string[];
  /** Messages the loader would print on standard error. */
  errors: string[];
}

export function formatTrace(graph: LoadGraph, programName: string = graph.input): TraceOutput {
  const lines: string[] = [];
  const errors: string[] = [];
  if (graph.flavour === "static") {
    lines.push("\tstatically linked");
    return { lines, errors };
  }
  if (graph.flavour === "glibc") {
    // rtld.c: a main object without DT_NEEDED is reported this way, whatever was preloaded.
    if (present(graph.objects[0], "the main object").needed.length === 0) {
      lines.push("\tstatically linked");
      return { lines, errors };
    }
    if (graph.error) {
      errors.push(`${programName}: error while loading shared libraries: ${graph.error}`);
      return { lines, errors };
    }
    for (const entry of graph.chain) {
      if (entry.kind === "missing") {
        lines.push(`\t${present(graph.missing[entry.index], `missing entry ${entry.index}`).name} => not found`);
      } else if (entry.kind === "object") {
        const object = present(graph.objects[entry.index], `loaded object ${entry.index}`);
        lines.push(object.name === object.path ? `\t${object.name}` : `\t${object.name} => ${object.path}`);
      }
    }
    return { lines, errors };
  }
  // musl: the loader's own line first, then one line per object as it is loaded.
  lines.push(`\t${graph.interpreter}`);
  for (const entry of graph.chain) {
    if (entry.kind === "musl-libc") lines.push(`\t${entry.name} => ${graph.interpreter}`);
    else if (entry.kind === "object") {
      const object = present(graph.objects[entry.index], `loaded object ${entry.index}`);
      lines.push(`\t${object.name} => ${object.path}`);
    }
  }
  for (const missing of graph.missing) {
    const by = graph.objects[missing.requestedBy];
    const requester = by?.index === 0 ? programName : (by?.path ?? programName);
    errors.push(`Error loading shared library ${missing.name}: ${missing.fatal ?? "No such file or directory"} (needed by ${requester})`);
  }
  return { lines, errors };
}

/** Whether every dependency was found (ldd's exit status). */
export function isComplete(graph: LoadGraph): boolean {
  return graph.missing.length === 0 && graph.error === null;
}
