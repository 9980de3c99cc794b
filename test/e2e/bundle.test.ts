// Bundling end to end on roots the test controls: the emitted tree, its symlinks, modes and links,
// determinism, include/exclude/mkdir/install-to, adversarial roots, and no partial OUTPUT ever.

import t from "tap";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BundleError, bundle } from "../../lib/index.js";
import { addLibrary, addProgram, makeMiniRoot } from "../support/mini-root.js";
import { fixture } from "../support/fixtures.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "magicpak-e2e-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(scratch, `${name}-${++counter}`);

/** Every entry below dir: type, mode, link target or content hash, nlink, sorted. */
function describeTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(rel, name);
      const st = lstatSync(join(dir, path));
      if (st.isSymbolicLink()) out.push(`l ${path} -> ${readlinkSync(join(dir, path))}`);
      else if (st.isDirectory()) {
        out.push(`d ${path} ${(st.mode & 0o7777).toString(8)}`);
        walk(path);
      } else
        out.push(
          `f ${path} ${(st.mode & 0o7777).toString(8)} ${createHash("sha256")
            .update(readFileSync(join(dir, path)))
            .digest("hex")
            .slice(0, 16)}`,
        );
    }
  };
  walk("");
  return out;
}

function run(jail: string, command: string): string {
  const busybox = fixture("MAGICPAK_BUSYBOX");
  mkdirSync(join(jail, "bin"), { recursive: true });
  execFileSync("cp", [busybox, join(jail, "bin/busybox")]);
  execFileSync(join(jail, "bin/busybox"), ["--install", join(jail, "bin")]);
  for (const d of ["proc", "dev"]) mkdirSync(join(jail, d), { recursive: true });
  return execFileSync(
    "unshare",
    [
      "--mount",
      "--pid",
      "--fork",
      "sh",
      "-c",
      'mount -t proc proc "$J/proc"; for d in null zero urandom; do : > "$J/dev/$d"; mount --bind /dev/$d "$J/dev/$d"; done; exec chroot "$J" /bin/sh -c "$CMD"',
    ],
    {
      encoding: "utf8",
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", J: jail, CMD: command },
    },
  );
}

const root = makeMiniRoot();
t.teardown(() => rmSync(root.dir, { recursive: true, force: true }));
addLibrary(root, "foo");
addLibrary(root, "bar");
addProgram(root, "prog", ["foo", "bar"]);
// A hard link to the same library under a second name.
linkSync(join(root.dir, root.libdir, "libbar.so.1.0"), join(root.dir, root.libdir, "libbar-alias.so.1.0"));

t.test("the closure is emitted at the loader's paths with symlink chains kept as relative links", async (t) => {
  const out = fresh("out");
  await bundle({ inputs: ["/usr/bin/prog"], output: out, root: root.dir });
  const tree = describeTree(out);
  t.ok(tree.includes("l lib -> usr/lib"), "merged-/usr /lib stays a symlink");
  t.ok(tree.includes("l lib64 -> usr/lib64"));
  t.ok(tree.includes("l usr/lib64/ld-linux-x86-64.so.2 -> ../../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), "absolute link made relative");
  t.ok(tree.includes("l usr/lib/x86_64-linux-gnu/libfoo.so.1 -> libfoo.so.1.0"));
  t.ok(
    tree.some((l) => l.startsWith("f usr/lib/x86_64-linux-gnu/libfoo.so.1.0 755")),
    "modes kept",
  );
  // Every symlink resolves inside OUTPUT when inspected on the host.
  for (const line of tree.filter((l) => l.startsWith("l "))) {
    const path = join(out, line.split(" ")[1]!);
    const real = realpathSync(path);
    t.ok(real.startsWith(realpathSync(out) + "/"), `${line} resolves inside the bundle`);
  }
  t.equal(run(out, "/usr/bin/prog").trim(), "14", "the program runs from the bundle");
});

t.test("deterministic: the same inputs give the same tree, modes and bytes", async (t) => {
  const a = fresh("a");
  const b = fresh("b");
  await bundle({ inputs: ["/usr/bin/prog"], output: a, root: root.dir, include: ["/usr/lib/x86_64-linux-gnu/*"], mkdir: ["/tmp", "/data"] });
  await bundle({ inputs: ["/usr/bin/prog"], output: b, root: root.dir, include: ["/usr/lib/x86_64-linux-gnu/*"], mkdir: ["/data", "/tmp"] });
  t.same(describeTree(a), describeTree(b));
});

t.test("files that are one inode are written once, as hard links", async (t) => {
  const out = fresh("out");
  await bundle({ inputs: ["/usr/bin/prog"], output: out, root: root.dir, include: ["/usr/lib/x86_64-linux-gnu/libbar*.so.1.0"] });
  const a = lstatSync(join(out, "usr/lib/x86_64-linux-gnu/libbar.so.1.0"));
  const b = lstatSync(join(out, "usr/lib/x86_64-linux-gnu/libbar-alias.so.1.0"));
  t.equal(a.ino, b.ino);
  t.equal(a.nlink, 2);
});

t.test("separate inodes with the same bytes, mode and mtime become one inode; others stay apart", async (t) => {
  const dup = makeMiniRoot();
  t.teardown(() => rmSync(dup.dir, { recursive: true, force: true }));
  addLibrary(dup, "foo");
  addProgram(dup, "prog", ["foo"]);
  const d = join(dup.dir, "opt/d");
  mkdirSync(join(dup.dir, "usr/libexec"), { recursive: true });
  mkdirSync(d, { recursive: true });
  execFileSync("cp", ["-p", join(dup.dir, "usr/bin/prog"), join(dup.dir, "usr/libexec/prog")]);
  writeFileSync(join(d, "a.dat"), "same bytes\n");
  writeFileSync(join(d, "b.dat"), "other byte\n"); // same size, other bytes
  for (const name of ["c.dat", "e.dat", "f.dat"]) execFileSync("cp", ["-p", join(d, "a.dat"), join(d, name)]);
  execFileSync("touch", ["-d", "2001-01-01", join(d, "c.dat")]); // other mtime
  chmodSync(join(d, "e.dat"), 0o600); // other mode
  const out = fresh("out");
  const logged: string[] = [];
  await bundle({ inputs: ["/usr/bin/prog"], output: out, root: dup.dir, include: ["/usr/libexec/prog", "/opt/d"], log: (_l, m) => logged.push(m) });
  const ino = (p: string) => lstatSync(join(out, p)).ino;
  t.equal(ino("usr/libexec/prog"), ino("usr/bin/prog"), "the program's copy is a hard link to it");
  t.equal(lstatSync(join(out, "usr/bin/prog")).nlink, 2);
  t.equal(ino("opt/d/f.dat"), ino("opt/d/a.dat"), "a data file's copy is a hard link to it");
  t.not(ino("opt/d/b.dat"), ino("opt/d/a.dat"), "same size, other bytes: apart");
  t.not(ino("opt/d/c.dat"), ino("opt/d/a.dat"), "other mtime: apart");
  t.not(ino("opt/d/e.dat"), ino("opt/d/a.dat"), "other mode: apart");
  t.equal(lstatSync(join(out, "opt/d/c.dat")).mtime.getUTCFullYear(), 2001, "its own mtime kept");
  t.equal(readFileSync(join(out, "opt/d/b.dat"), "utf8"), "other byte\n");
  t.ok(
    logged.some((m) => /^2 files have the same bytes as another: hard-linked/.test(m)),
    logged.join("\n"),
  );
  // The linked path runs in a chroot of the bundle as the original does.
  t.equal(run(out, "/usr/libexec/prog && /usr/bin/prog"), "7\n7\n");
  // --explain counts the bytes of one inode once and says why the path shares it.
  const explain = execFileSync("node", [bin, "/usr/bin/prog", fresh("out"), "--root", dup.dir, "--include", "/usr/libexec/prog", "--explain"], { encoding: "utf8" });
  t.match(explain, /\/usr\/libexec\/prog\n +--include \/usr\/libexec\/prog\n +the same bytes as \/usr\/bin\/prog: one inode \(hard link\)\n/);
  const total = /(\S+) {2}total/.exec(explain)?.[1];
  const alone = /(\S+) {2}total/.exec(execFileSync("node", [bin, "/usr/bin/prog", fresh("out"), "--root", dup.dir, "--explain"], { encoding: "utf8" }))?.[1];
  t.equal(total, alone, "the linked copy adds no bytes to the total");
  // The image layer holds the bytes once too: GNU tar lists the second path as a link.
  const layout = fresh("oci");
  await bundle({ inputs: ["/usr/bin/prog"], root: dup.dir, include: ["/usr/libexec/prog"], images: { ociLayout: layout } });
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  const blob = (digest: string) => join(layout, "blobs", ...digest.split(":"));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), "utf8")) as { layers: { digest: string }[] };
  const listing = execFileSync("tar", ["-tvzf", blob(manifest.layers[0]!.digest)], { encoding: "utf8" });
  t.match(listing, /usr\/libexec\/prog link to usr\/bin\/prog/);
});

t.test("--mkdir /tmp is 1777, other directories 0755", async (t) => {
  const out = fresh("out");
  await bundle({ inputs: ["/usr/bin/prog"], output: out, root: root.dir, mkdir: ["/tmp", "var/data/"] });
  t.equal(lstatSync(join(out, "tmp")).mode & 0o7777, 0o1777);
  t.equal(lstatSync(join(out, "var/data")).mode & 0o7777, 0o755);
});

t.test("--include takes directories recursively and gives ELF matches their own closure", async (t) => {
  const extra = join(root.dir, "opt/app");
  mkdirSync(join(extra, "share/deep"), { recursive: true });
  writeFileSync(join(extra, "share/deep/data.txt"), "payload\n");
  symlinkSync("deep/data.txt", join(extra, "share/link.txt"));
  addLibrary(root, "baz");
  addProgram(root, "tool", ["baz"]);
  execFileSync("mv", [join(root.dir, "usr/bin/tool"), join(extra, "tool")]);
  const out = fresh("out");
  await bundle({ inputs: ["/usr/bin/prog"], output: out, root: root.dir, include: ["/opt/app"] });
  t.equal(readFileSync(join(out, "opt/app/share/deep/data.txt"), "utf8"), "payload\n");
  t.equal(readlinkSync(join(out, "opt/app/share/link.txt")), "deep/data.txt");
  t.ok(existsSync(join(out, "usr/lib/x86_64-linux-gnu/libbaz.so.1.0")), "the included ELF's library came along");
  t.equal(run(out, "/opt/app/tool").trim(), "7");
});

t.test("--exclude also applies to symlink targets", async (t) => {
  const out = fresh("out");
  await bundle({ inputs: ["/usr/bin/prog"], output: out, root: root.dir, exclude: ["/usr/lib/x86_64-linux-gnu/libfoo.so.1.0"] });
  t.notOk(existsSync(join(out, "usr/lib/x86_64-linux-gnu/libfoo.so.1.0")));
  t.ok(existsSync(join(out, "usr/lib/x86_64-linux-gnu/libbar.so.1.0")));
  const out2 = fresh("out");
  await bundle({ inputs: ["/usr/bin/prog"], output: out2, root: root.dir, exclude: ["*.so.1.0"] });
  t.notOk(existsSync(join(out2, "usr/lib/x86_64-linux-gnu/libbar.so.1.0")), "a pattern without / matches names anywhere");
});

t.test("--install-to: a trailing / appends the name; a symlinked input stays a symlink", async (t) => {
  symlinkSync("../bin/prog", join(root.dir, "usr/bin/prog-link"));
  const out = fresh("out");
  await bundle({ inputs: ["/usr/bin/prog"], output: out, root: root.dir, installTo: "/app/" });
  t.ok(lstatSync(join(out, "app/prog")).isFile());
  t.notOk(existsSync(join(out, "usr/bin/prog")), "only at the install path");
  t.equal(run(out, "/app/prog").trim(), "14");
  const out2 = fresh("out");
  await bundle({ inputs: ["/usr/bin/prog-link"], output: out2, root: root.dir, installTo: "/bin/" });
  t.ok(lstatSync(join(out2, "usr/bin/prog-link")).isSymbolicLink(), "/bin/ lands in usr/bin through the bundle's /bin -> usr/bin");
  const out3 = fresh("out");
  await bundle({ inputs: ["/usr/bin/prog"], output: out3, root: root.dir, installTo: "/srv/main" });
  t.equal(run(out3, "/srv/main").trim(), "14");
});

t.test("OUTPUT: parents created; an existing empty directory is fine; non-empty or a file is refused and nothing written", async (t) => {
  const deep = join(fresh("parent"), "a/b/out");
  await bundle({ inputs: ["/usr/bin/prog"], output: deep, root: root.dir });
  t.ok(existsSync(join(deep, "usr/bin/prog")));
  const empty = fresh("empty");
  mkdirSync(empty);
  await bundle({ inputs: ["/usr/bin/prog"], output: empty, root: root.dir });
  t.ok(existsSync(join(empty, "usr/bin/prog")));
  await t.rejects(bundle({ inputs: ["/usr/bin/prog"], output: empty, root: root.dir }), { message: /destination is not empty/ });
  const file = fresh("file");
  writeFileSync(file, "x");
  await t.rejects(bundle({ inputs: ["/usr/bin/prog"], output: file, root: root.dir }), { message: /destination exists and is not a directory/ });
  t.equal(readFileSync(file, "utf8"), "x");
});

t.test("a failed --test leaves no OUTPUT", async (t) => {
  const out = fresh("out");
  await t.rejects(bundle({ inputs: ["/usr/bin/prog"], output: out, root: root.dir, test: { command: "prog", stdout: "15", busybox: fixture("MAGICPAK_BUSYBOX") } }), { message: /stdout mismatch/ });
  t.notOk(existsSync(out));
  await bundle({
    inputs: ["/usr/bin/prog"],
    output: out,
    root: root.dir,
    test: { command: "prog && cat /proc/self/status > /dev/null && head -c 4 /dev/urandom | wc -c", stdout: "14\n4", busybox: fixture("MAGICPAK_BUSYBOX") },
  });
  t.ok(existsSync(out), "/proc and /dev/urandom are there in the jail");
  t.notOk(existsSync(join(out, "bin/busybox")) || existsSync(join(out, "usr/bin/busybox")), "busybox never reaches OUTPUT");
});

t.test("adversarial roots: no escape, clear errors, no hang", async (t) => {
  const evil = makeMiniRoot();
  t.teardown(() => rmSync(evil.dir, { recursive: true, force: true }));
  addLibrary(evil, "foo");
  addProgram(evil, "prog", ["foo"]);
  const lib = join(evil.dir, evil.libdir);
  const outsideDir = fresh("outside");
  mkdirSync(outsideDir);
  writeFileSync(join(outsideDir, "secret"), "host secret\n");
  symlinkSync(join(outsideDir, "secret"), join(lib, "abs-out"));
  symlinkSync("../../../../../../../../../../.." + outsideDir + "/secret", join(lib, "dotdot-out"));
  symlinkSync("loop2", join(lib, "loop1"));
  symlinkSync("loop1", join(lib, "loop2"));
  const started = Date.now();
  await t.rejects(
    bundle({ inputs: ["/usr/bin/prog"], output: fresh("o"), root: evil.dir, include: ["/usr/lib/x86_64-linux-gnu/abs-out"] }),
    { message: /No such file or directory/ },
    "an absolute link out of the root resolves inside it",
  );
  await t.rejects(
    bundle({ inputs: ["/usr/bin/prog"], output: fresh("o"), root: evil.dir, include: ["/usr/lib/x86_64-linux-gnu/dotdot-out"] }),
    { message: /No such file or directory/ },
    ".. stops at the root",
  );
  await t.rejects(bundle({ inputs: ["/usr/bin/prog"], output: fresh("o"), root: evil.dir, include: ["/usr/lib/x86_64-linux-gnu/loop1"] }), { message: /Too many levels of symbolic links/ });
  // An absolute symlink input pointing out of the root.
  symlinkSync("/usr/bin/true", join(evil.dir, "usr/bin/host-true"));
  await t.rejects(bundle({ inputs: ["/usr/bin/host-true"], output: fresh("o"), root: evil.dir }), BundleError, "an input symlink is resolved inside the root");
  // Objects named like the library that the loader cannot use: FIFO, device, directory.
  for (const [kind, make, message] of [
    ["FIFO", (p: string) => execFileSync("mkfifo", [p]), /not a regular file/],
    ["device", (p: string) => execFileSync("mknod", [p, "c", "1", "3"]), /file too short/],
    ["directory", (p: string) => mkdirSync(p), /Error 21|Is a directory/],
  ] as const) {
    rmSync(join(lib, "libfoo.so.1"));
    make(join(lib, "libfoo.so.1"));
    await t.rejects(bundle({ inputs: ["/usr/bin/prog"], output: fresh("o"), root: evil.dir }), { message }, `${kind} named like a library`);
    rmSync(join(lib, "libfoo.so.1"), { recursive: true });
    symlinkSync("libfoo.so.1.0", join(lib, "libfoo.so.1"));
  }
  t.ok(Date.now() - started < 20000, "no hang");
  const out = fresh("o");
  await bundle({ inputs: ["/usr/bin/prog"], output: out, root: evil.dir, include: ["/usr/lib/x86_64-linux-gnu/*"] });
  const tree = describeTree(out).join("\n");
  t.notMatch(tree, /host secret/);
  t.match(tree, /l usr\/lib\/x86_64-linux-gnu\/abs-out ->/, "a dangling link in an included directory is kept as a link");
  t.notOk(existsSync(join(out, outsideDir)), "nothing from outside the root");
  // Unreadable files only stop a non-root user; root reads them, as the loader would.
  chmodSync(join(lib, "libfoo.so.1.0"), 0);
  const out2 = fresh("o");
  await bundle({ inputs: ["/usr/bin/prog"], output: out2, root: evil.dir });
  t.equal(lstatSync(join(out2, "usr/lib/x86_64-linux-gnu/libfoo.so.1.0")).mode & 0o7777, 0, "mode kept");
});

t.test("SIGKILL while emitting leaves no OUTPUT", async (t) => {
  // A big enough bundle that emit takes a while: many copies of a large file.
  const big = makeMiniRoot();
  t.teardown(() => rmSync(big.dir, { recursive: true, force: true }));
  addLibrary(big, "foo");
  addProgram(big, "prog", ["foo"]);
  mkdirSync(join(big.dir, "data"));
  const blob = Buffer.alloc(8 << 20, 7);
  for (let i = 0; i < 60; i++) writeFileSync(join(big.dir, "data", `blob${i}`), blob.subarray(i));
  const parent = fresh("killparent");
  mkdirSync(parent);
  const out = join(parent, "out");
  const child = spawn(process.execPath, [bin, "/usr/bin/prog", out, "--root", big.dir, "--include", "/data"], { stdio: "ignore" });
  // Wait until the staging directory appears, then kill.
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline && !readdirSync(parent).some((n) => n.startsWith(".out.magicpak-"))) await new Promise((r) => setTimeout(r, 5));
  const staged = readdirSync(parent).some((n) => n.startsWith(".out.magicpak-"));
  child.kill("SIGKILL");
  await new Promise((r) => child.on("close", r));
  t.ok(staged, "emit had started");
  t.notOk(existsSync(out), "no OUTPUT after SIGKILL");
});

t.test("DT_AUDIT modules are bundled with their own dependencies", async (t) => {
  const aroot = makeMiniRoot();
  t.teardown(() => rmSync(aroot.dir, { recursive: true, force: true }));
  addLibrary(aroot, "foo");
  const module = join(aroot.dir, aroot.libdir, "libaudmod.so");
  writeFileSync(`${module}.c`, "unsigned int la_version(unsigned int v) { return v; }\nint foo(void); int use(void) { return foo(); }\n");
  execFileSync("gcc", ["-shared", "-fPIC", "-o", module, `${module}.c`, join(aroot.dir, aroot.libdir, "libfoo.so.1")]);
  addProgram(aroot, "audited", [], [`-Wl,--audit=${aroot.libdir}/libaudmod.so`]);
  const out = fresh("out");
  const { loads } = await bundle({ inputs: ["/usr/bin/audited"], output: out, root: aroot.dir });
  t.equal(loads[0]!.audit.length, 1);
  t.ok(existsSync(join(out, "usr/lib/x86_64-linux-gnu/libaudmod.so")), "the audit module");
  t.ok(existsSync(join(out, "usr/lib/x86_64-linux-gnu/libfoo.so.1.0")), "its dependency, needed by no one else");
  t.equal(run(out, "/usr/bin/audited"), "0\n", "the program starts with its audit module");
});
