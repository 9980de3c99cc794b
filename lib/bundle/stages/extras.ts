// Files no DT_NEEDED names: NSS, libgcc_s, .note.dlopen sonames, and the extras asked for
// (lib/bundle/extras.ts, one function per extra).

import { addRuntimeExtras } from "../extras.js";
import type { Plan } from "../plan.js";

export function extras(plan: Plan): void {
  addRuntimeExtras(plan.graph, plan.root, plan.loader, plan.loads, plan.options.extras ?? {}, plan.log);
}
