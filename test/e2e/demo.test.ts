// `npm run demo` (README's first command) as a new user runs it: it must pass its own --test and
// list the bundle it made.
import t from "tap";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname } from "node:path";

const repo = new URL("../../..", import.meta.url).pathname;

t.test("examples/demo.sh bundles bash and tr, passes --test and lists the bundle", async (t) => {
  const r = spawnSync("bash", ["examples/demo.sh"], { cwd: repo, encoding: "utf8", timeout: 600_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /test the bundle: bash -c/);
  t.match(r.stdout, /^ {2}\.\/usr\/bin\/bash \(\d+ bytes\)$/m);
  t.match(r.stdout, /^ {2}\.\/usr\/bin\/tr \(\d+ bytes\)$/m);
  const out = /total: \S+ in (\S+)$/m.exec(r.stdout)?.[1];
  t.ok(out, "names the bundle's directory");
  if (out) rmSync(dirname(out), { recursive: true, force: true });
});
