// Scripts as inputs (issue #12): the "#!" chain is followed, the interpreter (and the program
// `#!/usr/bin/env NAME` runs) comes with its closure, the script is placed like an executable.
// Each bundle passes --test, then runs again in the independent jail of test/support/scratch-jail.ts,
// its output compared with the same script run on the host.

import t from "tap";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "../support/fixtures.js";
import { magicpakCli, pathInJail, runProcess, withFreshJail } from "../support/scratch-jail.js";

const work = mkdtempSync(join(tmpdir(), "magicpak-e2e-scripts-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

function script(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

const cases: { name: string; text: string; needs: string; dynamic?: boolean; bundled: string[] }[] = [
  { name: "dash.sh", needs: "/usr/bin/dash", text: '#!/usr/bin/dash\nset -e\nx=$(printf "%s-" a b c)\necho "dash: $x ${#x}"\n', bundled: ["/usr/bin/dash"] },
  { name: "bash-arg.sh", needs: "/usr/bin/bash", text: '#!/bin/bash -e\nwords=(b a c)\nIFS=,; echo "bash: ${words[*]} $BASH_VERSINFO"\n', bundled: ["/usr/bin/bash"] },
  // Python needs its standard library: found by the traced run (--dynamic, 1.4.0's option).
  { name: "env.py", needs: "/usr/bin/python3", dynamic: true, text: '#!/usr/bin/env python3\nimport json\nprint(json.dumps({"env": [1, 2]}))\n', bundled: ["/usr/bin/env", "/usr/bin/python3"] },
  {
    name: "env-split.py",
    needs: "/usr/bin/python3",
    dynamic: true,
    text: "#!/usr/bin/env -S python3 -S\nimport sys\nprint('split', sys.flags.no_site)\n",
    bundled: ["/usr/bin/env", "/usr/bin/python3"],
  },
];

for (const c of cases) {
  t.test(`a ${c.text.split("\n")[0]} script as INPUT`, async (t) => {
    if (!existsSync(c.needs)) throw new Error(`${c.needs} is missing on this host (apt-get install it)`);
    const path = script(c.name, c.text);
    // PATH without pyenv's shims: env must find the same python3 on the host as in the root.
    const expected = await runProcess(path, [], { env: { PATH: "/usr/bin:/bin" } });
    t.equal(expected.status, 0, "the script runs on the host", { stderr: expected.stderr });
    const out = join(work, `out-${c.name}`);
    const r = await magicpakCli([path, out, ...(c.dynamic ? ["--dynamic"] : []), "--test", "--busybox", fixture("MAGICPAK_BUSYBOX"), "--test-command", path, "--test-stdout", expected.stdout.trim()]);
    t.equal(r.status, 0, "bundled and tested", { stderr: r.stderr });
    for (const file of [path, ...c.bundled]) t.ok(existsSync(pathInJail(out, file)), `${file} is in the bundle`);
    await withFreshJail(out, async (jail) => {
      const run = await jail.run(path);
      t.equal(run.status, 0, "runs in the independent jail", { stderr: run.stderr });
      t.equal(run.stdout, expected.stdout, "the output of the host's run");
    });
  });
}

t.test("a script whose interpreter is missing is an error naming the #! line", async (t) => {
  const path = script("missing.sh", "#!/nonexistent/interp -x\necho\n");
  const r = await magicpakCli([path, join(work, "out-missing")]);
  t.equal(r.status, 1);
  t.match(r.stderr, /#!\/nonexistent\/interp -x/);
  const env = script("missing-env.sh", "#!/usr/bin/env no-such-program-here\n");
  const e = await magicpakCli([env, join(work, "out-missing-env")]);
  t.equal(e.status, 1);
  t.match(e.stderr, /no-such-program-here is not found through PATH/);
});
