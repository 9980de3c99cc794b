// parseMuslPath: musl's path_open splitting (ldso/dynlink.c), shared by the path file,
// LD_LIBRARY_PATH and RPATH/RUNPATH.

import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatTrace, Loader, parseMuslPath } from "../../lib/index.js";
import { fixture, tool } from "../support/fixtures.js";

t.test("elements split on ':' and newline, empty ones skipped", async (t) => {
  t.same(parseMuslPath(""), []);
  t.same(parseMuslPath("/lib:/usr/local/lib:/usr/lib"), ["/lib", "/usr/local/lib", "/usr/lib"]);
  t.same(parseMuslPath("/lib\n/usr/lib\n"), ["/lib", "/usr/lib"], "one directory a line, as Alpine writes the file");
  t.same(parseMuslPath("::/a:\n\n:/b::"), ["/a", "/b"]);
  t.same(parseMuslPath(" /a : /b\t"), [" /a ", " /b\t"], "no whitespace trimming: blanks are part of the name");
  t.same(parseMuslPath("relative:./x"), ["relative", "./x"]);
  t.same(parseMuslPath("/a;/b"), ["/a;/b"], "';' is not a separator for musl");
});

t.test("the path file ends at its first NUL, as musl reads it (getdelim up to NUL): the real musl agrees", async (t) => {
  const root = mkdtempSync(join(tmpdir(), "magicpak-musl-nul-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const d of ["lib", "etc", "opt/foo", "bin"]) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(fixture("MAGICPAK_MUSL_LOADER"), join(root, "lib/ld-musl-x86_64.so.1"));
  const musl = tool("musl-gcc");
  writeFileSync(join(root, "foo.c"), "int foo(void) { return 3; }\n");
  writeFileSync(join(root, "main.c"), "int foo(void);\nint main(void) { return foo(); }\n");
  execFileSync(musl, ["-shared", "-fPIC", "-Wl,-soname,libfoo.so", "-o", join(root, "opt/foo/libfoo.so"), join(root, "foo.c")]);
  execFileSync(musl, ["-o", join(root, "bin/prog"), join(root, "main.c"), join(root, "opt/foo/libfoo.so")]);
  for (const content of ["/opt/foo\0/junk\n", "/junk\0/opt/foo\n", "/junk:/opt/foo\n"]) {
    writeFileSync(join(root, "etc/ld-musl-x86_64.path"), content);
    const real = spawnSync("chroot", [root, "/lib/ld-musl-x86_64.so.1", "--list", "/bin/prog"], { encoding: "utf8" });
    const truth = real.stdout
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.replace(/ \(0x[0-9a-f]+\)$/, ""));
    const ours = formatTrace(new Loader(root, { cpu: null }).load("/bin/prog", { mode: "library" }), "/bin/prog").lines;
    t.same(ours, truth, JSON.stringify(content));
  }
});
