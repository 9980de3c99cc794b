// Stage 4, --include: files, symlinks and directories of the root; ELF files matched, directly or
// inside a matched directory, bring their own closure.

import { posix } from "node:path";
import type { Reason } from "../../graph/file-graph.js";
import { addClosure } from "../closure.js";
import { addFromRoot, addSymlinkAsIs } from "../collect.js";
import { isDynamicElf } from "../elf.js";
import { expandGlob } from "../glob.js";
import type { Plan } from "../plan.js";

export function include(plan: Plan): void {
  const { graph, root, loader, loads, cwd, log } = plan;
  for (const pattern of plan.options.include ?? []) {
    const matches = expandGlob(root, pattern, cwd);
    if (matches.length === 0) log("Warn", `--include ${pattern} matched nothing`);
    const literal = matches.length === 1 && matches[0] === (posix.isAbsolute(pattern) ? pattern : posix.join(cwd, pattern));
    for (const match of matches) {
      log("Info", `include ${match}`);
      const reason: Reason = { kind: "include", pattern };
      if (!literal && !root.tryResolve(match) && root.readlink(match) !== null) {
        // A wildcard matched a dangling or looping symlink: keep the link as the root has it.
        log("Warn", `${match} is a symlink that does not resolve in the root; kept as a link`);
        addSymlinkAsIs(graph, root, match, reason);
        continue;
      }
      const file = addFromRoot(graph, root, match, reason, { recursive: true });
      // ELF files matched, directly or inside a matched directory, bring their own closure.
      const files = file.stats.isDirectory()
        ? graph
            .entries()
            .filter((n) => n.kind === "file" && n.path.startsWith(`${file.path}/`))
            .map((n) => n.path)
        : [file.path];
      for (const path of files) {
        if (isDynamicElf(root, path)) loads.push(addClosure(graph, root, loader, path));
      }
    }
  }
}
