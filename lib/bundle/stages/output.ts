// OUTPUT: the tested plan written as a directory, whole or not at all (lib/bundle/emit.ts).

import { isAbsolute, resolve as resolveHost } from "node:path";
import { emitBundle } from "../emit.js";
import { asBundleError } from "../errors.js";
import type { Plan } from "../plan.js";

export async function output(plan: Plan): Promise<void> {
  if (plan.options.output === undefined) return;
  const output = isAbsolute(plan.options.output) ? plan.options.output : resolveHost(plan.options.output);
  plan.log("Info", `emit the bundle to ${output}`);
  try {
    await emitBundle(plan.graph, plan.options.output);
  } catch (error) {
    throw asBundleError(error);
  }
  plan.output = output;
}
