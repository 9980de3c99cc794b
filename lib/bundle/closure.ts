// What running a file needs, put into the plan: a script's "#!" interpreters, an ELF file's
// interpreter and libraries (and audit modules), at the paths the loader opens them by.

import type { RootFs } from "../fs/root.js";
import type { FileGraph, Reason } from "../graph/file-graph.js";
import { InputError, type Loader } from "../loader/load.js";
import type { LoadGraph } from "../loader/model.js";
import { addFromRoot, openedPath } from "./collect.js";
import { BundleError } from "./errors.js";
import type { Logger } from "./log.js";
import { ScriptError, scriptChain } from "./script.js";

/**
 * What executing `path` needs: for a script, each "#!" interpreter of its chain (and the program
 * `#!/usr/bin/env NAME` runs, with what it needs in turn), then the closure of the ELF file that
 * finally runs, whose load graph is returned. The file itself is not added.
 */
export function addRunnable(graph: FileGraph, root: RootFs, loader: Loader, path: string, log: Logger, depth = 0): LoadGraph {
  let chain;
  try {
    chain = root.tryResolve(path)?.stats.isFile() ? scriptChain(root, path) : [];
  } catch (error) {
    if (error instanceof ScriptError) throw new BundleError(path, error.message);
    throw error;
  }
  for (const step of chain) {
    log("Info", `${step.script} is a script (${step.line}): bundle ${step.interpreter}`);
    addFromRoot(graph, root, step.path, { kind: "interpreter-script", script: step.script, line: step.line });
    if (step.program) {
      if (depth > 4) throw new BundleError(path, `too many levels of #!/usr/bin/env programs`);
      addFromRoot(graph, root, step.program.path, { kind: "env-program", script: step.script, name: step.program.name });
      addRunnable(graph, root, loader, step.program.path, log, depth + 1);
    }
  }
  const last = chain.at(-1);
  return addClosure(graph, root, loader, last ? last.interpreter : path);
}

/**
 * Loads `path` and adds its interpreter and every library, at the paths the loader opens them by.
 * A soname in `loaded` (objects a traced run had loaded) is no error when missing: the run had it.
 */
export function addClosure(graph: FileGraph, root: RootFs, loader: Loader, path: string, loaded?: Set<string>): LoadGraph {
  let load: LoadGraph;
  try {
    load = loader.load(path);
  } catch (error) {
    if (error instanceof InputError) throw new BundleError(error.path, error.problem);
    throw error;
  }
  if (load.error) throw new BundleError(path, `cannot be loaded: ${load.error}`);
  const missing = load.missing.find((m) => !loaded?.has(m.name));
  if (missing) {
    const by = load.objects[missing.requestedBy];
    const tried = missing.attempts.map((a) => a.path).join(", ");
    throw new BundleError(path, `${missing.name} not found (needed by ${by?.index === 0 ? path : by?.realPath})${tried ? `; tried ${tried}` : ""}`);
  }
  addLoadedObjects(graph, root, load, path);
  // Audit modules, each with its own copies of its dependencies.
  for (const audit of load.audit) {
    addFromRoot(graph, root, audit.input, { kind: "audit", name: audit.input });
    addLoadedObjects(graph, root, audit, audit.input);
  }
  return load;
}

/** The interpreter and every object of a load graph but its main one, with the reason each is there. */
function addLoadedObjects(graph: FileGraph, root: RootFs, load: LoadGraph, path: string): void {
  if (load.interpreter) addFromRoot(graph, root, load.interpreter, { kind: "interpreter", of: path });
  for (const object of load.objects.slice(1)) {
    const requester = load.objects[object.loader ?? 0];
    const why: Reason =
      object.foundBy === "interpreter"
        ? { kind: "interpreter", of: path }
        : object.foundBy === "preload"
          ? { kind: "preload", name: object.name }
          : { kind: "needed", by: requester?.index === 0 ? path : (requester?.realPath ?? path), name: object.name };
    addFromRoot(graph, root, openedPath(object), why);
    // Another CPU may pick another glibc-hwcaps variant: bring them all.
    for (const variant of object.variants) addFromRoot(graph, root, variant, why);
  }
}
