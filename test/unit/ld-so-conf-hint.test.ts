// A library in a directory that /etc/ld.so.conf lists but /etc/ld.so.cache does not (ldconfig has
// not run since): the loader does not find it, and neither do we, but the miss says why. Checked
// against the root's real loader run in a chroot.

import t from "tap";
import { spawnSync, execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatTrace, formatTree, Loader } from "../../lib/index.js";
import { compile, makeMiniRoot } from "../support/mini-root.js";

const root = makeMiniRoot();
t.teardown(() => rmSync(root.dir, { recursive: true, force: true }));
mkdirSync(join(root.dir, "opt/hint/lib"), { recursive: true });
mkdirSync(join(root.dir, "etc/ld.so.conf.d"), { recursive: true });
const lib = join(root.dir, "opt/hint/lib/libhint.so.1");
compile("int hint(void) { return 7; }", lib, "-shared", "-fPIC", "-Wl,-soname,libhint.so.1");
compile('#include <stdio.h>\nint hint(void);\nint main(void) { printf("%d\\n", hint()); return 0; }\n', join(root.dir, "usr/bin/prog"), lib);
writeFileSync(join(root.dir, "etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n");

function analyse(): { trace: string[]; tree: string[]; attempts: { path: string; via: string; detail: string }[] } {
  const graph = new Loader(root.dir, { cpu: null }).load("/usr/bin/prog");
  const missing = graph.missing.find((m) => m.name === "libhint.so.1");
  return { trace: formatTrace(graph).lines, tree: formatTree(graph), attempts: missing?.attempts.map(({ path, via, detail }) => ({ path, via, detail })) ?? [] };
}

const CONF = join(root.dir, "etc/ld.so.conf.d/hint.conf");
const CACHE = join(root.dir, "etc/ld.so.cache");
const LISTED = "# the hint library\n/opt/hint/lib/\n";

/**
 * Puts the root in one state, whatever the subtests before did: hint.conf's text (null: none)
 * and /etc/ld.so.cache built by ldconfig before hint.conf was written, after it, or not at all.
 */
function state(conf: string | null, cache: "before-conf" | "after-conf" | "none"): void {
  rmSync(CONF, { force: true });
  rmSync(CACHE, { force: true });
  if (cache === "before-conf") execFileSync("/sbin/ldconfig", ["-r", root.dir, "-X"]);
  if (conf !== null) writeFileSync(CONF, conf);
  if (cache === "after-conf") execFileSync("/sbin/ldconfig", ["-r", root.dir, "-X"]);
}

function realRun(): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("chroot", [root.dir, "/usr/bin/prog"], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const HINT = {
  path: "/opt/hint/lib/libhint.so.1",
  via: "ld.so.cache",
  detail: "listed in /etc/ld.so.conf (/etc/ld.so.conf.d/hint.conf:2) but not in /etc/ld.so.cache: run ldconfig",
};

t.test("a cache from before the directory was listed: not found, with the hint", async (t) => {
  state(LISTED, "before-conf");
  const real = realRun();
  t.equal(real.status, 127);
  t.match(real.stderr, /libhint\.so\.1: cannot open shared object file/, "the real loader does not find it either");
  const ours = analyse();
  t.ok(
    ours.trace.some((l) => /^\tlibhint\.so\.1 => not found$/.test(l)),
    "--list output as the loader's: not found",
  );
  t.ok(ours.attempts.some((a) => a.via === "ld.so.cache" && a.detail === "no entry for libhint.so.1"));
  t.same(ours.attempts[ours.attempts.length - 1], HINT, "the hint closes the places tried");
  t.ok(
    ours.tree.some((l) => l.endsWith(`    tried ${HINT.path} [ld.so.cache]: ${HINT.detail}`)),
    "--tree shows it",
    { tree: ours.tree },
  );
});

t.test("no cache at all: the same hint", async (t) => {
  state(LISTED, "none");
  t.equal(realRun().status, 127);
  const ours = analyse();
  t.ok(ours.trace.some((l) => /^\tlibhint\.so\.1 => not found$/.test(l)));
  t.same(ours.attempts[ours.attempts.length - 1], HINT);
});

t.test("after ldconfig: found through the cache, no hint", async (t) => {
  state(LISTED, "after-conf");
  const real = realRun();
  t.equal(real.status, 0);
  t.equal(real.stdout, "7\n");
  const ours = analyse();
  t.ok(
    ours.trace.some((l) => l === "\tlibhint.so.1 => /opt/hint/lib/libhint.so.1"),
    "found where the cache says",
    { trace: ours.trace },
  );
  t.same(ours.attempts, []);
});

t.test("a library the configuration does not list gets no hint", async (t) => {
  state("/opt/elsewhere\n", "none");
  t.equal(realRun().status, 127, "the real loader does not find it");
  const ours = analyse();
  t.ok(ours.trace.some((l) => /^\tlibhint\.so\.1 => not found$/.test(l)));
  t.notOk(ours.attempts.some((a) => a.detail.includes("ld.so.conf")));
});
