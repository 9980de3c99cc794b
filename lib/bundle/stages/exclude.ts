// Stage 5, --exclude: drops matching entries, also ones that came in as symlink targets; a match
// removes its whole subtree.

import { isExcluded } from "../glob.js";
import type { Plan } from "../plan.js";

export function exclude(plan: Plan): void {
  const { graph, log } = plan;
  for (const pattern of plan.options.exclude ?? []) {
    for (const node of graph.entries()) {
      if (isExcluded(node.path, pattern)) {
        log("Info", `exclude ${node.path}`);
        graph.remove(node.path);
      }
    }
  }
}

/** --exclude again, quietly, for what a later stage made from the plan (the package records). */
export function excludeQuietly(plan: Plan): void {
  for (const pattern of plan.options.exclude ?? []) {
    for (const node of plan.graph.entries()) if (isExcluded(node.path, pattern)) plan.graph.remove(node.path);
  }
}
