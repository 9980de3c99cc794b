// Stage 1-2 (magicpak's order): each input's closure, then the input itself, at --install-to or
// at its own path. A script brings its "#!" interpreters; the last one's closure is its load.

import { posix } from "node:path";
import type { RootFs } from "../../fs/root.js";
import type { FileGraph, Reason } from "../../graph/file-graph.js";
import { childPath } from "../../graph/paths.js";
import { addRunnable } from "../closure.js";
import { addDirectoryChain, addFromRoot, fileNode, imageLinkTarget } from "../collect.js";
import type { Plan } from "../plan.js";
import { present } from "../../present.js";

export function inputs(plan: Plan): void {
  for (const path of plan.inputs) {
    plan.log("Info", `bundle shared object dependencies of ${path}`);
    plan.loads.push(addRunnable(plan.graph, plan.root, plan.loader, path, plan.log));
    placeExecutable(plan.graph, plan.root, path, plan.options.installTo);
  }
}

/** The image path of an input installed with --install-to (a trailing "/" appends its name). */
export function installPath(installTo: string, input: string): string {
  const wanted = posix.normalize(posix.isAbsolute(installTo) ? installTo : `/${installTo}`);
  return installTo.endsWith("/") ? posix.join(wanted, posix.basename(input)) : wanted;
}

/** The input goes at --install-to (a trailing "/" appends its name), or at its own path. */
function placeExecutable(graph: FileGraph, root: RootFs, input: string, installTo: string | undefined): void {
  const reason: Reason = { kind: "input", path: input };
  if (installTo === undefined) {
    addFromRoot(graph, root, input, reason);
    return;
  }
  const wanted = installPath(installTo, input);
  // Where the root has the install directory (/bin -> usr/bin), the image gets the same chain.
  const dir = addDirectoryChain(graph, root, graph.resolveInGraph(posix.dirname(wanted)));
  const at = graph.resolveInGraph(childPath(dir, posix.basename(wanted)));
  const link = root.lookup(input, "/", false);
  if (!(link instanceof Error) && link.stats.isSymbolicLink()) {
    // A symlinked input stays a symlink, so its $ORIGIN is the same in the image as on the host.
    const target = present(root.readlink(input), `the target of symlink ${input}`); // lookup just saw a link
    const absoluteTarget = target.startsWith("/") ? target : posix.join(posix.dirname(link.path), target);
    graph.add({ kind: "symlink", path: at, target: imageLinkTarget(at, absoluteTarget), mode: 0o777, reasons: [reason] });
    addFromRoot(graph, root, absoluteTarget, reason);
    return;
  }
  graph.add(fileNode(at, root.resolve(input), reason));
}
