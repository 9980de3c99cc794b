// The root filesystem view: paths resolve as after chroot(2); nothing outside the root is followed.

import t from "tap";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RootFs, RootPathError } from "../../lib/index.js";

const base = mkdtempSync(join(tmpdir(), "magicpak-root-"));
t.teardown(() => rmSync(base, { recursive: true, force: true }));
const root = join(base, "root");
const outside = join(base, "outside");
mkdirSync(join(root, "usr/lib"), { recursive: true });
mkdirSync(join(root, "etc"), { recursive: true });
mkdirSync(outside, { recursive: true });
writeFileSync(join(root, "etc/hostname"), "inside\n");
writeFileSync(join(outside, "secret"), "outside\n");
symlinkSync("usr/lib", join(root, "lib"));
symlinkSync("/etc/hostname", join(root, "usr/lib/abs-link"));
symlinkSync("../../../../../../../etc/hostname", join(root, "usr/lib/dotdot-link"));
symlinkSync(join(outside, "secret"), join(root, "usr/lib/host-abs-link"));
symlinkSync("loop-b", join(root, "usr/lib/loop-a"));
symlinkSync("loop-a", join(root, "usr/lib/loop-b"));

const fs = new RootFs(root);

t.test("absolute and .. symlinks stay inside the root", async (t) => {
  t.equal(fs.resolve("/lib/abs-link").path, "/etc/hostname");
  t.equal(fs.resolve("/lib/abs-link").hostPath, join(root, "etc/hostname"));
  t.equal(fs.resolve("/lib/dotdot-link").path, "/etc/hostname");
  t.equal(fs.resolve("/../../..//usr/lib/../../etc/hostname").path, "/etc/hostname");
  t.equal(fs.resolve("/lib/../lib/abs-link").path, "/etc/hostname");
  t.throws(() => fs.resolve("/lib/../etc/hostname"), { code: "ENOENT" }, ".. after a symlinked directory is physical: /lib/.. is /usr");
  t.equal(fs.readFile("/lib/dotdot-link")?.toString(), "inside\n");
});

t.test("a symlink to a host path is resolved inside the root, not followed out", async (t) => {
  t.throws(() => fs.resolve("/lib/host-abs-link"), RootPathError);
  t.equal(fs.readFile("/lib/host-abs-link"), null);
});

t.test("loops end with ELOOP; missing paths with ENOENT; files used as directories with ENOTDIR", async (t) => {
  t.throws(() => fs.resolve("/lib/loop-a"), { code: "ELOOP" });
  t.throws(() => fs.resolve("/lib/nothere"), { code: "ENOENT" });
  t.throws(() => fs.resolve("/etc/hostname/x"), { code: "ENOTDIR" });
  t.equal(fs.resolve("/lib/loop-a", "/", false).stats.isSymbolicLink(), true, "not following the last component");
});

t.test("relative paths resolve against the given working directory", async (t) => {
  t.equal(fs.resolve("hostname", "/etc").path, "/etc/hostname");
  t.equal(fs.resolve("../../etc/hostname", "/lib").path, "/etc/hostname", ".. from a symlinked directory is physical");
});
