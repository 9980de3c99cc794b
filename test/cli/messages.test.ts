// Messages a user can act on: what is harmless is Info, what is ignored says so, and advice fits
// the installation it is given in.

import t from "tap";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile, makeMiniRoot } from "../support/mini-root.js";

const repo = new URL("../../../", import.meta.url).pathname;
const bin = join(repo, "bin/magicpak.js");
const scratch = mkdtempSync(join(tmpdir(), "magicpak-messages-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;
const fresh = () => join(scratch, `out-${++counter}`);

function run(entry: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [entry, ...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin", ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const magicpak = (...args: string[]) => run(bin, args);

// A root whose nsswitch.conf names a service without its module, as stock Debian does with "db".
const root = makeMiniRoot();
t.teardown(() => rmSync(root.dir, { recursive: true, force: true }));
writeFileSync(join(root.dir, "etc/nsswitch.conf"), "services: db files\nprotocols: db files\n");
compile('#include <netdb.h>\n#include <stdio.h>\nint main(void) { struct servent *s = getservbyname("http", "tcp"); printf("%d\\n", s ? 1 : 0); return 0; }\n', join(root.dir, "usr/bin/services"));

t.test('NSS service "db" named without libnss_db in the root is Info, not a warning', async (t) => {
  t.notOk(existsSync(join(root.dir, root.libdir, "libnss_db.so.2")), "the root has no libnss_db.so.2");
  const quiet = magicpak("--root", root.dir, "/usr/bin/services", fresh());
  t.equal(quiet.status, 0, quiet.stderr);
  t.equal(quiet.stderr, "", "nothing at the default level (Warn)");
  const verbose = magicpak("--root", root.dir, "/usr/bin/services", fresh(), "-v");
  t.equal(verbose.status, 0, verbose.stderr);
  t.match(verbose.stderr, /^ INFO NSS service "db" is named in \/etc\/nsswitch\.conf but libnss_db\.so\.2 is not in the root$/m);
});

t.test("--test-command, --test-stdin and --test-stdout without --test: a warning each, not silence", async (t) => {
  const r = magicpak("--root", root.dir, "/usr/bin/services", fresh(), "--test-command", "services", "--test-stdin", "x", "--test-stdout", "1");
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, [" WARN --test-command is ignored without --test", " WARN --test-stdin is ignored without --test", " WARN --test-stdout is ignored without --test", ""].join("\n"));
  t.equal(magicpak("--root", root.dir, "/usr/bin/services", fresh(), "--test-stdout", "1", "--log-level", "Off").stderr, "", "Off silences it");
});

// The npm package ships no native/ directory (package.json "files"): its copy of magicpak, laid out
// as npm installs it, must not tell its user to run npm run build:native.
const installed = join(scratch, "installed");
mkdirSync(join(installed, "bin"), { recursive: true });
cpSync(join(repo, "dist/lib"), join(installed, "dist/lib"), { recursive: true });
cpSync(join(repo, "dist/bin"), join(installed, "dist/bin"), { recursive: true });
cpSync(join(repo, "bin/magicpak.js"), join(installed, "bin/magicpak.js"));
cpSync(join(repo, "package.json"), join(installed, "package.json"));
symlinkSync(join(repo, "node_modules"), join(installed, "node_modules"));

t.test("without native/ sources: no 'npm run build:native', but what to do instead", async (t) => {
  t.notOk(existsSync(join(installed, "native")), "the installed copy has no native/");
  const version = run(join(installed, "bin/magicpak.js"), ["--version"]);
  t.equal(version.status, 0, version.stderr);
  t.notMatch(version.stdout, /build:native/);
  t.match(version.stdout, /native addon: not loaded: native\/magicpak\.linux-\w+-gnu\.node is absent \(.*install strace\)\n$/);
  const traced = run(join(installed, "bin/magicpak.js"), ["/usr/bin/true", fresh(), "--dynamic", "--tracer", "native"]);
  t.equal(traced.status, 1);
  t.notMatch(traced.stderr, /build:native/);
  t.match(traced.stderr, /^error: .*the native addon is not loaded: .*install strace\)\n$/);
  const none = run(join(installed, "bin/magicpak.js"), ["/usr/bin/true", fresh(), "--dynamic"], { PATH: "/nonexistent" });
  t.equal(none.status, 1);
  t.match(none.stderr, /^error: .*no tracer: strace is not on PATH and the native addon is not loaded: .*install strace\)\n$/);
  // In a checkout (native/ has the Rust sources) building it is the advice.
  const checkout = run(bin, ["--version"], { MAGICPAK_NATIVE: join(scratch, "absent.node") });
  t.match(checkout.stdout, /absent\.node is absent \(build it with npm run build:native\)/);
});
