// Every input the fuzzer found breaking a property, replayed through its target: each now gives a
// result or one of the project's typed errors, within the time limit.
// test/fuzz/regressions/<target>/<name>, one file per input.

import t from "tap";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupTargets, TARGETS } from "./targets.js";

const dir = join(new URL(".", import.meta.url).pathname, "../../../test/fuzz/regressions");
t.teardown(cleanupTargets);

t.test("regression inputs are filed under known targets", async (t) => {
  t.ok(existsSync(dir), dir);
  for (const name of readdirSync(dir).filter((n) => !n.startsWith("."))) t.ok(name in TARGETS, `${name} is a fuzz target`);
});

for (const target of Object.keys(TARGETS)) {
  const inputs = existsSync(join(dir, target)) ? readdirSync(join(dir, target)).sort() : [];
  if (inputs.length === 0) continue;
  t.test(`${target}: ${inputs.length} regression inputs`, async (t) => {
    const run = TARGETS[target]!();
    for (const name of inputs) {
      const input = readFileSync(join(dir, target, name));
      const started = performance.now();
      t.doesNotThrow(() => run.run(input), name);
      const ms = performance.now() - started;
      t.ok(ms < 1000, `${name}: ${ms.toFixed(0)} ms`);
    }
  });
}
