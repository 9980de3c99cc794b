// The listing modes of the command line, run as a user runs them.

import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { normaliseTrace } from "../support/ground-truth.js";
import { fixture } from "../support/fixtures.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;

function magicpakIn(cwd: string | undefined, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: {}, cwd });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const magicpak = (...args: string[]) => magicpakIn(undefined, ...args);

function loaderTrace(file: string, env: Record<string, string> = {}, cwd?: string): string[] {
  return normaliseTrace(execFileSync(file, [], { encoding: "utf8", env: { ...env, LD_TRACE_LOADED_OBJECTS: "1" }, cwd }));
}

const dir = mkdtempSync(join(tmpdir(), "magicpak-cli-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// A program whose library is gone: the loader lists "not found" and the rest.
writeFileSync(join(dir, "gone.c"), "int gone(void) { return 0; }\n");
writeFileSync(join(dir, "main.c"), "int gone(void); int main(void) { return gone(); }\n");
execFileSync("gcc", ["-shared", "-fPIC", "-o", join(dir, "libgone.so"), join(dir, "gone.c")]);
execFileSync("gcc", ["-o", join(dir, "needs-gone"), join(dir, "main.c"), `-L${dir}`, "-lgone"]);
rmSync(join(dir, "libgone.so"));
const needsGone = join(dir, "needs-gone");

t.test("--list prints what the loader prints and exits 0 when all is found", async (t) => {
  const r = magicpak("--list", "/usr/bin/ssh");
  t.equal(r.status, 0);
  t.same(
    r.stdout.split("\n").filter((l) => l !== ""),
    loaderTrace("/usr/bin/ssh"),
  );
  t.equal(r.stderr, "");
});

t.test("a missing library: listed as not found, the rest printed, exit 1 (as ldd)", async (t) => {
  const r = magicpak("--list", needsGone);
  t.equal(r.status, 1);
  t.same(
    r.stdout.split("\n").filter((l) => l !== ""),
    loaderTrace(needsGone),
  );
  t.match(r.stdout, /\tlibgone\.so => not found/);
});

t.test("several files: each block headed by FILE:, as ldd does", async (t) => {
  const r = magicpak("--list", "/usr/bin/ssh", "/usr/bin/ls");
  t.equal(r.status, 0);
  const lines = r.stdout.split("\n");
  t.equal(lines[0], "/usr/bin/ssh:");
  t.ok(lines.includes("/usr/bin/ls:"));
});

t.test("--preload and --library-path are the target's environment, compared with the real loader", async (t) => {
  const r = magicpak("--list", "--preload", "libz.so.1", "/usr/bin/ls");
  t.same(
    r.stdout.split("\n").filter((l) => l !== ""),
    loaderTrace("/usr/bin/ls", { LD_PRELOAD: "libz.so.1" }),
  );
  t.match(r.stdout.split("\n")[0] ?? "", /^\tlibz\.so\.1 => /, "the preload comes first");
  const lp = magicpak("--list", "--library-path", `${dir}:/nonexistent`, needsGone);
  t.same(
    lp.stdout.split("\n").filter((l) => l !== ""),
    loaderTrace(needsGone, { LD_LIBRARY_PATH: `${dir}:/nonexistent` }),
  );
});

t.test("--tree shows why each object was found and every place tried for a miss", async (t) => {
  const r = magicpak("--tree", needsGone);
  t.equal(r.status, 1);
  t.match(r.stdout, /libc\.so\.6 => \/lib\/x86_64-linux-gnu\/libc\.so\.6 \[ld\.so\.cache\]/);
  t.match(r.stdout, /libgone\.so not found/);
  t.match(r.stdout, /tried \/lib\/x86_64-linux-gnu\/libgone\.so \[system\]/);
});

t.test("--json gives the whole graph", async (t) => {
  const r = magicpak("--json", "/usr/bin/ssh");
  t.equal(r.status, 0);
  const graph = (JSON.parse(r.stdout) as { files: { graph: { flavour: string; objects: { name: string; foundBy: string; realPath: string }[] } }[] }).files[0]!.graph;
  t.equal(graph.flavour, "glibc");
  const libc = graph.objects.find((o) => o.name === "libc.so.6");
  t.equal(libc?.foundBy, "ld.so.cache");
  t.equal(libc?.realPath, "/usr/lib/x86_64-linux-gnu/libc.so.6");
});

t.test("a relative FILE is relative to the current directory on the host root, as for ldd", async (t) => {
  // A real program and its library copied to a directory of their own; RPATH $ORIGIN finds it.
  const here = join(dir, "relative");
  mkdirSync(join(here, "sub"), { recursive: true });
  writeFileSync(join(here, "lib.c"), "int here(void) { return 0; }\n");
  writeFileSync(join(here, "prog.c"), "int here(void); int main(void) { return here(); }\n");
  execFileSync("gcc", ["-shared", "-fPIC", "-o", join(here, "libhere.so"), join(here, "lib.c")]);
  execFileSync("gcc", ["-o", join(here, "prog"), join(here, "prog.c"), `-L${here}`, "-lhere", "-Wl,-rpath,$ORIGIN", "-Wl,--disable-new-dtags"]);
  copyFileSync("/usr/bin/ls", join(here, "sub/ls"));
  const want = loaderTrace("./prog", {}, here);
  t.match(want.join("\n"), /libhere\.so => .*relative\/libhere\.so/, "the loader finds the library beside it");
  for (const file of ["./prog", "prog"]) {
    const r = magicpakIn(here, "--list", file);
    t.equal(r.status, 0, `--list ${file}: ${r.stderr}`);
    t.same(
      r.stdout.split("\n").filter((l) => l !== ""),
      want,
      `--list ${file} prints what the loader prints`,
    );
  }
  const tree = magicpakIn(here, "--tree", "prog");
  t.equal(tree.status, 0, tree.stderr);
  t.match(tree.stdout, /^prog .*\n├── libhere\.so => .*\/relative\/libhere\.so \[rpath\]/);
  const json = magicpakIn(here, "--json", "sub/ls");
  t.equal(json.status, 0, json.stderr);
  t.equal((JSON.parse(json.stdout) as { files: { graph: { objects: { realPath: string }[] } }[] }).files[0]!.graph.objects[0]!.realPath, join(realpathSync(here), "sub/ls"));
  t.same(
    magicpakIn(join(here, "sub"), "--list", "../prog")
      .stdout.split("\n")
      .filter((l) => l !== ""),
    want,
    "../prog from a subdirectory",
  );
});

t.test("under --root a relative FILE stays relative to --cwd inside the root (default /)", async (t) => {
  const root = join(dir, "root");
  mkdirSync(join(root, "opt"), { recursive: true });
  copyFileSync(join(dir, "relative/prog"), join(root, "opt/prog"));
  const fromRootDir = magicpakIn(dir, "--list", "--root", root, "prog");
  t.equal(fromRootDir.status, 1);
  t.equal(fromRootDir.stderr, "error: prog: No such file or directory\n", "not the host's cwd: / of the root has no prog");
  const withCwd = magicpakIn(dir, "--list", "--root", root, "--cwd", "/opt", "prog");
  t.equal(withCwd.status, 1, "found; its libraries are not in this root");
  t.match(withCwd.stdout, /\tlibhere\.so => \/opt\/libhere\.so|\tlibhere\.so => not found/);
  t.match(withCwd.stdout, /\tlibc\.so\.6 => not found/);
});

t.test("--root analyses a foreign root", async (t) => {
  const root = fixture("MAGICPAK_ARM64_ROOT"); // a missing fixture throws: the test fails with the remedy
  const r = magicpak("--list", "--root", root, "/usr/bin/ssh");
  t.equal(r.status, 0);
  t.match(r.stdout, /\tlibc\.so\.6 => \/lib\/aarch64-linux-gnu\/libc\.so\.6/);
  t.match(r.stdout, /\t\/lib\/ld-linux-aarch64\.so\.1/);
});

t.test("errors: one line naming the path, exit 1; usage errors exit 2", async (t) => {
  const missing = magicpak("--list", "/nonexistent/prog");
  t.equal(missing.status, 1);
  t.equal(missing.stderr, "error: /nonexistent/prog: No such file or directory\n");
  writeFileSync(join(dir, "text"), "just text\n");
  const text = magicpak("--list", join(dir, "text"));
  t.equal(text.status, 1);
  t.match(text.stderr, new RegExp(`^error: ${join(dir, "text")}: not a loadable ELF file: .*\\n$`));
  t.equal(text.stderr.split("\n").length, 2, "one line, no stack trace");
  t.equal(magicpak("--list").status, 2, "--list without files");
  t.equal(magicpak("--list", "--tree", "/usr/bin/ls").status, 2, "two modes");
  const unknown = magicpak("--list", "--frobnicate", "/usr/bin/ls");
  t.equal(unknown.status, 2);
  t.match(unknown.stderr, /unknown option --frobnicate/);
  t.equal(magicpak("only-one-path").status, 2, "bundling form needs INPUT and OUTPUT");
});

t.test("--version and --help exit 0", async (t) => {
  const v = magicpak("--version");
  t.equal(v.status, 0);
  t.match(v.stdout, /^magicpak \d+\.\d+\.\d+ /);
  t.match(v.stdout, /\nnative addon: (loaded|not loaded)/, "--version says whether the native addon is loaded");
  const h = magicpak("--help");
  t.equal(h.status, 0);
  t.match(h.stdout, /--list/);
});

t.test("--resolver native asks this machine's loader; it agrees with --list on a program found through the cache", async (t) => {
  const ours = magicpak("--list", "/usr/bin/ssh");
  const native = magicpak("--list", "--resolver", "native", "/usr/bin/ssh");
  t.equal(native.status, 0, native.stderr);
  // The interpreter is named by its PT_INTERP path in the trace and by the name asked for by dlopen.
  const names = (out: string) =>
    out
      .split("\n")
      .filter((l) => l.includes(" => ") && !l.includes("ld-linux"))
      .sort();
  t.ok(names(ours.stdout).length > 5);
  t.same(names(native.stdout), names(ours.stdout));
  t.equal(magicpak("--list", "--resolver", "native", "--root", "/tmp", "/usr/bin/ssh").status, 2);
  t.equal(magicpak("--list", "--resolver", "bogus", "/usr/bin/ssh").status, 2);
});
