// A short coverage-guided fuzzing run of every target (about a minute in all; `npm run fuzz` for
// long runs): no property may break. A finding prints its input (base64) and its file; put it
// under test/fuzz/regressions/<target>/ with the fix, where regressions.test.ts replays it.
// Then every ld.so.conf the fuzzer kept (each reached code no other did) is read by glibc's own
// ldconfig as well, which must scan the same directories from the same file:line.

import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LdSoConfError, parseLdSoConf, RootFs } from "../../lib/index.js";
import { cleanupTargets, makeConfRoot, setScratchParent, writeConfInput } from "./targets.js";

const here = new URL(".", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "magicpak-fuzz-test-"));
t.teardown(() => {
  cleanupTargets();
  rmSync(work, { recursive: true, force: true });
});

// A fixed seed in the test suite, so every CI run starts from the same inputs; `npm run fuzz`
// seeds from the clock to explore further.
// cli runs the real command line per input (a child process): 25 s is some 30-60 executions here.
const budget = { elf: 20, "ld.so.cache": 15, "ld.so.conf": 15, "musl-path": 10, cli: 25 };
const minimumExecutions: Record<string, number> = { cli: 20 };
const corpus = join(work, "corpus");

t.test("a minute of fuzzing breaks no property", async (t) => {
  const json = join(work, "stats.json");
  const started = Date.now();
  const run = spawnSync(
    process.execPath,
    [
      "--expose-gc",
      join(here, "main.js"),
      ...Object.entries(budget).map(([target, s]) => `${target}=${s}`),
      "--seed",
      "20261122",
      "--json",
      json,
      "--corpus",
      corpus,
      "--artifacts",
      join(here, "../../../fuzz-artifacts"),
    ],
    { encoding: "utf8", timeout: 600_000 },
  );
  t.comment(run.stdout.trimEnd());
  if (run.status !== 0) t.comment(run.stderr.trimEnd());
  const stats = JSON.parse(readFileSync(json, "utf8")) as { target: string; seed: number; executions: number; corpus: number; violations: { kind: string; detail: string; input: string }[] }[];
  t.same(
    stats.map((s) => s.target),
    Object.keys(budget),
    "every target ran",
  );
  for (const s of stats) {
    t.ok(s.executions > (minimumExecutions[s.target] ?? 500), `${s.target}: ${s.executions} executions (seed ${s.seed}), corpus ${s.corpus}`);
    for (const v of s.violations) t.fail(`${s.target}: ${v.kind}: ${v.detail}`, { input: v.input });
    t.equal(s.violations.length, 0, `${s.target}: no property broke`);
  }
  t.equal(run.status, 0, `the fuzzer exits 0 (ran ${((Date.now() - started) / 1000).toFixed(0)} s)`);
});

t.test("ldconfig scans the directories parseLdSoConf lists, for every configuration the fuzzer kept", async (t) => {
  const dir = join(corpus, "ld.so.conf");
  const inputs = existsSync(dir) ? readdirSync(dir).sort() : [];
  t.ok(inputs.length > 50, `${inputs.length} configurations kept`);
  setScratchParent(work);
  const root = makeConfRoot();
  const fs = () => new RootFs(root);
  let compared = 0;
  let refused = 0;
  const differences: { input: string; ours: string[]; ldconfig: string[] }[] = [];
  for (const name of inputs) {
    const input = readFileSync(join(dir, name));
    writeConfInput(root, input);
    let directories;
    try {
      directories = parseLdSoConf(fs()).directories;
    } catch (error) {
      if (!(error instanceof LdSoConfError)) throw error;
      refused++;
      continue;
    }
    // What ldconfig keeps of the list: directories that exist, the first of each (device, inode).
    const view = fs();
    const seen = new Set<string>();
    const ours: string[] = [];
    for (const d of directories) {
      const resolved = view.tryResolve(d.path);
      if (!resolved || seen.has(`${resolved.stats.dev}:${resolved.stats.ino}`)) continue;
      seen.add(`${resolved.stats.dev}:${resolved.stats.ino}`);
      ours.push(Buffer.from(`${d.path}: (from ${d.file}:${d.line})`).toString("latin1"));
    }
    const out = execFileSync("/sbin/ldconfig", ["-r", root, "-v", "-N", "-X"], { encoding: "latin1", stdio: ["ignore", "pipe", "ignore"], maxBuffer: 1 << 28, timeout: 20_000 });
    const ldconfig = out.split("\n").filter((l) => /^\S.*: \(from .*:\d+\)$/.test(l) && !l.endsWith("(from <builtin>:0)"));
    compared++;
    if (JSON.stringify(ours) !== JSON.stringify(ldconfig)) differences.push({ input: input.toString("base64"), ours, ldconfig });
  }
  t.comment(`${compared} compared, ${refused} refused (LdSoConfError)`);
  t.same(differences.slice(0, 5), [], `parseLdSoConf and ldconfig agree on all ${compared}`);
});
