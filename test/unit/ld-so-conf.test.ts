// The ld.so.conf parser against glibc's own: ldconfig run on a temporary root (ldconfig -r ROOT
// chroots itself when run as root, so it reads the configuration exactly as inside the root)
// prints every directory it scans with the file and line it came from (-v), and writes a cache
// whose entries show which directories it took libraries from.

import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { EM_X86_64, LdSoConfError, parseLdSoCache, parseLdSoConf, RootFs, type ConfDirectory } from "../../lib/index.js";
import { globInRoot } from "../../lib/loader/ld-so-conf.js";
import { buildElf } from "../support/elf-builder.js";

const LDCONFIG = "/sbin/ldconfig";

type Tree = Record<string, string | { link: string } | { dir: true }>;

function makeRoot(files: Tree): string {
  const root = mkdtempSync(join(tmpdir(), "magicpak-ldsoconf-"));
  for (const [path, content] of Object.entries(files)) {
    const host = join(root, path);
    mkdirSync(typeof content === "object" && "dir" in content ? host : dirname(host), { recursive: true });
    if (typeof content === "string") writeFileSync(host, content);
    else if ("link" in content) symlinkSync(content.link, host);
  }
  return root;
}

/** A shared object with this soname, as ldconfig reads it (class, machine, DT_SONAME). */
function library(root: string, path: string, soname: string): void {
  mkdirSync(join(root, dirname(path)), { recursive: true });
  writeFileSync(join(root, path), buildElf({ class: 64, little: true, machine: EM_X86_64, soname }));
}

/** The directories ldconfig -v scans, with their origin, builtin ones and glibc-hwcaps subdirectories left out. */
function ldconfigScanned(root: string): { path: string; file: string; line: number }[] {
  const out = execFileSync(LDCONFIG, ["-r", root, "-v", "-N", "-X"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return out
    .split("\n")
    .map((line) => /^(\S.*): \(from (.*):(\d+)\)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && m[2] !== "<builtin>")
    .map((m) => ({ path: m[1]!, file: m[2]!, line: Number(m[3]) }));
}

/** What ldconfig keeps of the parser's list: directories that exist (stat), the first of each (device, inode). */
function scanned(rootDir: string, directories: ConfDirectory[]): { path: string; file: string; line: number }[] {
  const root = new RootFs(rootDir);
  const seen = new Set<string>();
  const out: { path: string; file: string; line: number }[] = [];
  for (const d of directories) {
    const resolved = root.tryResolve(d.path);
    if (!resolved) continue;
    const id = `${resolved.stats.dev}:${resolved.stats.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ path: d.path, file: d.file, line: d.line });
  }
  return out;
}

const roots: string[] = [];
t.teardown(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

const directories = ["/opt/a", "/opt/b", "/opt/c", "/opt/d", "/opt/e", "/opt/f", "/opt/g", "/opt/h", "/opt/typed", "/opt/hidden", "/opt/readme", "/opt/deep", "/opt/rel", "/opt/tail", "/opt/slash"];
const tree: Tree = {
  "etc/ld.so.conf": [
    "# comment line",
    "   /opt/a   # a trailing comment",
    "include ld.so.conf.d/*.conf",
    "include /etc/extra/one.conf\t/etc/extra/two.conf  /etc/missing/*.conf",
    "hwcap 1 foo",
    "HWCAP 2 bar",
    "\t/opt/b///",
    "/opt/nonexistent",
    "/opt/a/",
    "/opt/typed=libc6",
    "/opt/tail\r",
    "/opt/f\0/opt/garbage",
    "includes-no-blank",
    "include\t/etc/extra/slash.conf/",
    "",
  ].join("\n"),
  "etc/ld.so.conf.d/10-x.conf": "/opt/c\n include sub/*.conf\n",
  "etc/ld.so.conf.d/02-y.conf": "/opt/d",
  "etc/ld.so.conf.d/.hidden.conf": "/opt/hidden\n",
  "etc/ld.so.conf.d/README": "/opt/readme\n",
  "etc/ld.so.conf.d/sub/z.conf": "/opt/e\r\n\n\n#\ninclude ../../extra/deep/*\n",
  "etc/ld.so.conf.d/zz-link.conf": { link: "/etc/extra/three.conf" },
  "etc/ld.so.conf.d/dir.conf": { dir: true },
  "etc/extra/one.conf": "/opt/g\n",
  "etc/extra/two.conf": "/opt/h # two\n/opt/g\n",
  "etc/extra/three.conf": "/opt/rel\n",
  "etc/extra/slash.conf": "/opt/slash\n",
  "etc/extra/deep/1": "/opt/deep\n",
  ...Object.fromEntries(directories.map((d) => [d.slice(1), { dir: true as const }])),
};

t.test("the directories ldconfig scans, in its order, with the file and line of each", async (t) => {
  const root = makeRoot(tree);
  roots.push(root);
  const conf = parseLdSoConf(new RootFs(root));
  t.same(
    conf.files,
    [
      "/etc/ld.so.conf",
      "/etc/ld.so.conf.d/02-y.conf",
      "/etc/ld.so.conf.d/10-x.conf",
      "/etc/ld.so.conf.d/sub/z.conf",
      "/etc/ld.so.conf.d/sub/../../extra/deep/1",
      "/etc/ld.so.conf.d/zz-link.conf",
      "/etc/extra/one.conf",
      "/etc/extra/two.conf",
      "/etc/extra/slash.conf",
    ],
    "includes in order, relative ones from the including file's directory, hidden files and non-matches left out",
  );
  t.same(
    conf.directories.map((d) => [d.path, d.type, `${d.file}:${d.line}`]),
    [
      ["/opt/a", null, "/etc/ld.so.conf:2"],
      ["/opt/d", null, "/etc/ld.so.conf.d/02-y.conf:1"],
      ["/opt/c", null, "/etc/ld.so.conf.d/10-x.conf:1"],
      ["/opt/e", null, "/etc/ld.so.conf.d/sub/z.conf:1"],
      ["/opt/deep", null, "/etc/ld.so.conf.d/sub/../../extra/deep/1:1"],
      ["/opt/rel", null, "/etc/ld.so.conf.d/zz-link.conf:1"],
      ["/opt/g", null, "/etc/extra/one.conf:1"],
      ["/opt/h", null, "/etc/extra/two.conf:1"],
      ["/opt/g", null, "/etc/extra/two.conf:2"],
      ["/opt/b", null, "/etc/ld.so.conf:7"],
      ["/opt/nonexistent", null, "/etc/ld.so.conf:8"],
      ["/opt/a", null, "/etc/ld.so.conf:9"],
      ["/opt/typed", "libc6", "/etc/ld.so.conf:10"],
      ["/opt/tail", null, "/etc/ld.so.conf:11"],
      ["/opt/f", null, "/etc/ld.so.conf:12"],
      ["includes-no-blank", null, "/etc/ld.so.conf:13"],
      ["/opt/slash", null, "/etc/extra/slash.conf:1"],
    ],
  );
  t.same(conf.warnings, ["/etc/ld.so.conf:5: hwcap directive ignored", "/etc/ld.so.conf:6: hwcap directive ignored"]);

  const glibc = ldconfigScanned(root);
  t.ok(glibc.length >= 10, `ldconfig scanned ${glibc.length} directories`);
  t.same(scanned(root, conf.directories), glibc, "the same directories as ldconfig -v, from the same file:line");
});

t.test("the cache ldconfig -r ROOT writes holds the libraries of exactly those directories", async (t) => {
  const root = makeRoot(tree);
  roots.push(root);
  const placed = new Map<string, string>();
  for (const [i, dir] of directories.entries()) {
    const soname = `libconf${i}.so.1`;
    library(root, `${dir}/${soname}`, soname);
    placed.set(soname, dir);
  }
  execFileSync(LDCONFIG, ["-r", root, "-X"], { stdio: ["ignore", "ignore", "pipe"] });
  const cache = parseLdSoCache("/etc/ld.so.cache", readFileSync(join(root, "etc/ld.so.cache")), { littleEndian: true });
  const cached = new Map(cache.entries.map((e) => [e.key, e.value]));
  const listed = new Set(scanned(root, parseLdSoConf(new RootFs(root)).directories).map((d) => d.path));
  t.ok(listed.size >= 10);
  for (const [soname, dir] of placed) {
    if (listed.has(dir)) t.equal(cached.get(soname), `${dir}/${soname}`, `${soname} cached from ${dir}`);
    else t.notOk(cached.has(soname), `${soname} in ${dir}, which no configuration lists, is not cached`);
  }
  t.equal(cached.size, listed.size, "one entry per listed directory, nothing else");
});

t.test("missing configuration, unreadable parts, symlinks out of the root", async (t) => {
  const empty = makeRoot({});
  roots.push(empty);
  t.same(parseLdSoConf(new RootFs(empty)), { directories: [], files: [], warnings: [] }, "no /etc/ld.so.conf: nothing");
  const outside = makeRoot({
    "etc/ld.so.conf": "include /etc/up/*.conf\n/etc/escape\n",
    "etc/up": { link: "../../../../../../../../etc/ld.so.conf.d" },
    "etc/escape": { link: "../../../../../../../../usr" },
    "etc/ld.so.conf.d/in.conf": "/inside\n",
  });
  roots.push(outside);
  const conf = parseLdSoConf(new RootFs(outside));
  t.same(conf.files, ["/etc/ld.so.conf", "/etc/up/in.conf"], "a symlink climbing out of the root lands on the root's own /etc/ld.so.conf.d");
  t.same(
    conf.directories.map((d) => d.path),
    ["/inside", "/etc/escape"],
  );
});

t.test("include loops and absurd sizes are LdSoConfError", async (t) => {
  const loop = makeRoot({
    "etc/ld.so.conf": "include /etc/a.conf\n",
    "etc/a.conf": "/opt/x\ninclude b.conf\n",
    "etc/b.conf": "include /etc/ld.so.conf.d/../a.conf\n",
    "etc/ld.so.conf.d": { dir: true },
  });
  roots.push(loop);
  t.throws(() => parseLdSoConf(new RootFs(loop)), LdSoConfError);
  t.throws(() => parseLdSoConf(new RootFs(loop)), { message: /\/etc\/ld.so.conf.d\/..\/a.conf: includes itself \(\/etc\/ld.so.conf -> \/etc\/a.conf -> \/etc\/b.conf -> \/etc\/a.conf\)/ });
  const self = makeRoot({ "etc/ld.so.conf": "include /etc/ld.so.conf\n" });
  roots.push(self);
  t.throws(() => parseLdSoConf(new RootFs(self)), LdSoConfError);
  const fanout = makeRoot({
    "etc/ld.so.conf": `include ${"/etc/a.conf ".repeat(100)}\n`,
    "etc/a.conf": `include ${"/etc/b.conf ".repeat(100)}\n`,
    "etc/b.conf": "/opt/x\n",
  });
  roots.push(fanout);
  t.throws(() => parseLdSoConf(new RootFs(fanout)), { name: "LdSoConfError", message: /more than 1024 configuration files/ });
  const dots = makeRoot({ "etc/ld.so.conf": `include ${"/*/..".repeat(9)}/.*/*\n`, "a/b/c": { dir: true }, "d/e/f": { dir: true }, "g/h": { dir: true } });
  roots.push(dots);
  t.throws(() => parseLdSoConf(new RootFs(dots)), { name: "LdSoConfError", message: /expand to more than 4096 paths/ }, "'.', '..' and '*' expand exponentially: bounded");
  const big = makeRoot({ "etc/ld.so.conf": "/opt/x\n".repeat(200_000) });
  roots.push(big);
  t.throws(() => parseLdSoConf(new RootFs(big)), { name: "LdSoConfError", message: /larger than/ });
});

t.test("glob as glibc's glob(3) with flags 0", async (t) => {
  const root = makeRoot({
    "d/a.conf": "",
    "d/.b.conf": "",
    "d/sub/x.conf": "",
    "d/.hid": { dir: true },
    "d/[x].conf": "",
    "d/dangling": { link: "/nowhere" },
  });
  roots.push(root);
  const fs = new RootFs(root);
  const cases: [string, string[]][] = [
    ["/d/*", ["/d/[x].conf", "/d/a.conf", "/d/dangling", "/d/sub"]],
    ["/d/.*", ["/d/.", "/d/..", "/d/.b.conf", "/d/.hid"]],
    ["/d/[.]*", []],
    ["/d/?.conf", ["/d/a.conf"]],
    ["/d/[!a]*", ["/d/[x].conf", "/d/dangling", "/d/sub"]],
    ["/d/[]a]*", ["/d/a.conf"]],
    ["/d/[z-a]*", []],
    ["/d/[[:alpha:]].conf", ["/d/a.conf"]],
    ["/d/[[:nonsense:]]*", []],
    ["/d/\\[x].conf", ["/d/[x].conf"]],
    ["/d/[[]x].conf", ["/d/[x].conf"]],
    ["/d/a\\.conf", ["/d/a.conf"]],
    ["/d/a\\", []],
    ["/d/\\*", []],
    ["/d/[a", []],
    ["/d//*.conf", ["/d//[x].conf", "/d//a.conf"]],
    ["//d/a.conf", ["//d/a.conf"]],
    ["/d/*/x.conf", ["/d/sub/x.conf"]],
    ["/d/*/", ["/d/sub/"]],
    ["/d/a.conf/", ["/d/a.conf"]],
    ["/d/sub/", ["/d/sub/"]],
    ["/d/nothere", []],
    ["/*/*.conf", ["/d/[x].conf", "/d/a.conf"]],
  ];
  for (const [pattern, expected] of cases) t.same(globInRoot(fs, pattern), expected, pattern);
  // The same patterns through glibc's glob(3), when a C compiler is at hand (the fixtures install gcc).
  const probe = join(root, "glob-probe");
  writeFileSync(
    `${probe}.c`,
    '#include <glob.h>\n#include <stdio.h>\n#include <locale.h>\nint main(int c, char **v) { setlocale(LC_ALL, ""); setlocale(LC_COLLATE, "C"); glob_t g; if (glob(v[1], 0, NULL, &g) == 0) for (size_t i = 0; i < g.gl_pathc; i++) printf("%s\\n", g.gl_pathv[i]); return 0; }\n',
  );
  execFileSync("gcc", ["-static", "-o", probe, `${probe}.c`]);
  for (const [pattern] of cases) {
    const out = execFileSync("chroot", [root, "/glob-probe", pattern], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l !== "");
    t.same(
      globInRoot(fs, pattern),
      out.filter((l) => !l.startsWith("/glob-probe")),
      `glibc agrees on ${pattern}`,
    );
  }
});
