// A short coverage-guided fuzzing run of every target (about a minute in all; `npm run fuzz` for
// long runs): no property may break. A finding prints its input (base64) and its file; put it
// under test/fuzz/regressions/<target>/ with the fix, where regressions.test.ts replays it.

import t from "tap";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "magicpak-fuzz-test-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const budget = { elf: 20, "ld.so.cache": 15, "ld.so.conf": 15, "musl-path": 10 };

t.test("a minute of fuzzing breaks no property", async (t) => {
  const json = join(work, "stats.json");
  const started = Date.now();
  const run = spawnSync(
    process.execPath,
    ["--expose-gc", join(here, "main.js"), ...Object.entries(budget).map(([target, s]) => `${target}=${s}`), "--json", json, "--artifacts", join(here, "../../../fuzz-artifacts")],
    { encoding: "utf8", timeout: 600_000 },
  );
  t.comment(run.stdout.trimEnd());
  if (run.status !== 0) t.comment(run.stderr.trimEnd());
  const stats = JSON.parse(readFileSync(json, "utf8")) as { target: string; seed: number; executions: number; corpus: number; violations: { kind: string; detail: string; input: string }[] }[];
  t.same(stats.map((s) => s.target), Object.keys(budget), "every target ran");
  for (const s of stats) {
    t.ok(s.executions > 500, `${s.target}: ${s.executions} executions (seed ${s.seed}), corpus ${s.corpus}`);
    for (const v of s.violations) t.fail(`${s.target}: ${v.kind}: ${v.detail}`, { input: v.input });
    t.equal(s.violations.length, 0, `${s.target}: no property broke`);
  }
  t.equal(run.status, 0, `the fuzzer exits 0 (ran ${((Date.now() - started) / 1000).toFixed(0)} s)`);
});
