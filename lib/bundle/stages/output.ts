// OUTPUT: the tested plan written as a directory, whole or not at all (lib/bundle/emit.ts).

import { isAbsolute, resolve as resolveHost } from "node:path";
import { emitBundle } from "../emit.js";
import { asBundleError } from "../errors.js";
import type { Plan } from "../plan.js";
import { formatBytes } from "../../report/progress.js";

export async function output(plan: Plan): Promise<void> {
  if (plan.options.output === undefined) return;
  const output = isAbsolute(plan.options.output) ? plan.options.output : resolveHost(plan.options.output);
  plan.log("Info", `emit the bundle to ${output}`);
  const files = plan.graph.entries().filter((n) => n.kind === "file" || n.kind === "generated");
  const bytes = files.reduce((sum, f) => sum + (f.kind === "file" ? f.size : f.content.length), 0);
  const step = plan.progress.step(`emit ${plan.graph.size} entries to ${output}`);
  try {
    await emitBundle(plan.graph, plan.options.output);
    step.done(`${files.length} files, ${formatBytes(bytes)}`);
  } catch (error) {
    throw asBundleError(error);
  }
  plan.output = output;
}
