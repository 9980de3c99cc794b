// `--list --resolver native`: what this machine's loader answered, in the trace's manner.

import type { NativeLoadGraph } from "../native/resolver.js";

export function formatNativeTrace(graph: NativeLoadGraph): string[] {
  return [...graph.objects.slice(1).map((o) => (o.name === o.path ? `\t${o.name}` : `\t${o.name} => ${o.path}`)), ...graph.missing.map((m) => `\t${m.name} => not found (${m.error})`)];
}
