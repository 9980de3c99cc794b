// Issue 17: the jail is a primitive of its own; lib/jail imports nothing from lib/bundle or
// lib/image (writeTree and DEFAULT_PATH live in lib/graph), and the missing-file hint and the
// clean-up registry behave as the jail relies on.

import t from "tap";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { missingHint } from "../../lib/jail/jail.js";
import { cleanUpNow, makeTempDir, registerTempDir } from "../../lib/cleanup.js";
import { DEFAULT_PATH } from "../../lib/index.js";

const root = new URL("../../../", import.meta.url).pathname;

t.test("lib/jail imports nothing from lib/bundle or lib/image", async (t) => {
  const dir = join(root, "lib/jail");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
  t.ok(files.length >= 4, files.join(" "));
  for (const file of files) {
    const imports = [...readFileSync(join(dir, file), "utf8").matchAll(/from "([^"]+)"/g)].map((m) => m[1]!);
    t.same(
      imports.filter((i) => /^\.\.\/(bundle|image)\//.test(i)),
      [],
      `${file}: ${imports.join(", ")}`,
    );
  }
  t.equal(DEFAULT_PATH, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "still exported by the package");
});

t.test("missingHint names the paths stderr says are missing", async (t) => {
  t.match(missingHint("/usr/bin/ls: cannot access '/bin/sh': No such file or directory\n"), /lacks \/bin\/sh\?/);
  t.match(missingHint("sh: 1: xz: not found\n"), /lacks xz\?/);
  t.match(missingHint("/usr/bin/mktemp: failed to create file via template '/tmp/tmp.XXXXXXXXXX': No such file or directory\n"), /\/tmp\/tmp\.XXXXXXXXXX/);
  t.match(missingHint("tar (child): xz: Cannot exec: No such file or directory\n"), /lacks xz\?/);
  t.match(missingHint("bash: line 4: tr: command not found\n"), /lacks tr\?/);
  t.equal(missingHint("segmentation fault\n"), "");
});

t.test("the clean-up registry removes what is still registered, not what was removed", async (t) => {
  const a = makeTempDir("magicpak-cleanup-test-");
  const b = mkdtempSync(join(tmpdir(), "magicpak-cleanup-test-"));
  const removeB = registerTempDir(b);
  a.remove();
  t.notOk(existsSync(a.dir));
  cleanUpNow();
  t.notOk(existsSync(b), "a registered directory is removed by cleanUpNow");
  removeB(); // harmless afterwards
});
