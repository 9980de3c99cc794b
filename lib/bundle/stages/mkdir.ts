// Stage 3, --mkdir: empty directories (/tmp and /var/tmp world-writable and sticky, as in every
// container image).

import { posix } from "node:path";
import type { Plan } from "../plan.js";

export function mkdir(plan: Plan): void {
  const { graph, log } = plan;
  for (const dir of plan.options.mkdir ?? []) {
    const path = posix.normalize(`/${dir}`).replace(/\/+$/, "") || "/";
    log("Info", `make directory ${path}`);
    const mode = path === "/tmp" || path === "/var/tmp" ? 0o1777 : 0o755;
    graph.add({ kind: "directory", path: graph.resolveInGraph(path), mode, reasons: [{ kind: "mkdir" }] });
  }
}
