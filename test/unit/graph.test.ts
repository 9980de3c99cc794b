// The plan's own path logic, checked against the real thing: FileGraph.resolveInGraph and its
// conflicts against a real directory tree with the same symlinks (realpath, mkdir), imageLinkTarget
// against symlinks the kernel follows, expandGlob against bash's globbing of the same tree,
// isExcluded against Python's fnmatch (whose `*` crosses '/', as magicpak 1.4.0's glob crate's
// default MatchOptions), substituteDst against the real ld.so's expansion of LD_LIBRARY_PATH.

import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { FileGraph, GraphConflictError, Loader, RootFs, expandGlob, imageLinkTarget, isExcluded, substituteDst } from "../../lib/index.js";
import { hostAbi } from "../../lib/loader/machines.js";

const dir = mkdtempSync(join(tmpdir(), "magicpak-graph-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** The same tree on disk (below `base`) and in a graph: directories, files and relative symlinks. */
function build(base: string, entries: [string, "dir" | "file" | string][]): FileGraph {
  const graph = new FileGraph();
  mkdirSync(base, { recursive: true });
  for (const [path, what] of entries) {
    const host = join(base, path);
    mkdirSync(dirname(host), { recursive: true });
    if (what === "dir") {
      mkdirSync(host, { recursive: true });
      graph.add({ kind: "directory", path, mode: 0o755, reasons: [] });
    } else if (what === "file") {
      writeFileSync(host, "x");
      graph.add({ kind: "generated", path, content: Buffer.from("x"), mode: 0o644, reasons: [] });
    } else {
      symlinkSync(what, host);
      graph.add({ kind: "symlink", path, target: what, mode: 0o777, reasons: [] });
    }
  }
  return graph;
}

/** Where the kernel puts `name` inside `path`'s directory: realpath of the directory, or its errno. */
function kernelParent(base: string, path: string): string {
  try {
    // Concatenated and realpath(3): path.join and the JS realpath fold "a/.." before the kernel
    // sees the link a.
    const real = realpathSync.native(base + dirname(path));
    return real === base ? "/" : real.slice(base.length);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

function graphParent(graph: FileGraph, path: string): string {
  try {
    return dirname(graph.resolveInGraph(path));
  } catch (error) {
    return error instanceof GraphConflictError && /too many levels of symbolic links/.test(error.problem) ? "ELOOP" : String(error);
  }
}

t.test("resolveInGraph lands where the kernel resolves the same links", async (t) => {
  const base = join(dir, "resolve");
  const graph = build(base, [
    ["/usr/lib/x86_64-linux-gnu", "dir"],
    ["/usr/share/doc", "dir"],
    ["/lib", "usr/lib"],
    ["/usr/lib64", "lib"],
    ["/usr/lib/multi", "x86_64-linux-gnu"],
    ["/usr/lib/up", "../share"],
    ["/usr/lib/dot", "./x86_64-linux-gnu/../x86_64-linux-gnu"],
    ["/usr/lib/x86_64-linux-gnu/back", "../../.."],
    ["/loop-a", "loop-b"],
    ["/loop-b", "loop-a"],
    ["/self", "self"],
  ]);
  const paths = [
    "/lib/libc.so.6",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib64/multi/libc.so.6",
    "/lib/up/doc/README",
    "/usr/lib/dot/libm.so.6",
    "/usr/lib/x86_64-linux-gnu/back/lib/multi/back/usr/x",
    "/lib/../share/doc/README",
    "/loop-a/x",
    "/self/x",
  ];
  for (const path of paths) t.equal(graphParent(graph, path), kernelParent(base, path), path);
});

t.test("a chain of symlinks: Linux follows 40 (MAXSYMLINKS) in one walk, and so does the graph", async (t) => {
  for (const length of [39, 40, 41]) {
    const base = join(dir, `chain-${length}`);
    const entries: [string, string][] = [["/end", "dir"]];
    for (let i = 0; i < length; i++) entries.push([`/l${i}`, i === length - 1 ? "end" : `l${i + 1}`]);
    const graph = build(base, entries);
    t.equal(graphParent(graph, "/l0/x"), kernelParent(base, "/l0/x"), `${length} links`);
  }
});

t.test("conflicts: what the graph refuses, a real directory tree cannot hold either", async (t) => {
  const base = join(dir, "conflict");
  const graph = build(base, [
    ["/etc/passwd", "file"],
    ["/bin", "usr/bin"],
    ["/usr/bin", "dir"],
  ]);
  const cases: [string, () => void, () => void][] = [
    ["an entry below a file", () => graph.add({ kind: "directory", path: "/etc/passwd/x", mode: 0o755, reasons: [] }), () => mkdirSync(join(base, "etc/passwd/x"))],
    [
      "a file where entries below need a directory",
      () => graph.add({ kind: "generated", path: "/usr", content: Buffer.from("y"), mode: 0o644, reasons: [] }),
      () => writeFileSync(join(base, "usr"), "y", { flag: "wx" }),
    ],
    ["another symlink at the same path", () => graph.add({ kind: "symlink", path: "/bin", target: "sbin", mode: 0o777, reasons: [] }), () => symlinkSync("sbin", join(base, "bin"))],
  ];
  for (const [what, plan, disk] of cases) {
    t.throws(plan, GraphConflictError, `${what}: the graph refuses it`);
    t.throws(disk, { code: /^(ENOTDIR|EEXIST|EISDIR)$/ }, `${what}: so does the filesystem`);
  }
  // The same entry again only merges its reasons, as writing it twice changes nothing on disk.
  const again = graph.add({ kind: "symlink", path: "/bin", target: "usr/bin", mode: 0o777, reasons: [{ kind: "mkdir" }] });
  t.same(again.reasons, [{ kind: "mkdir" }]);
  t.equal(graph.size, 3);
});

t.test("imageLinkTarget: the link text resolves to the target, as the kernel follows it", async (t) => {
  const base = join(dir, "links");
  // Files; /usr/lib/x86_64-linux-gnu is a directory, made as libc.so.6's parent.
  for (const target of ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/alternatives/awk", "/usr/lib/x", "/usr/bin/true"]) {
    mkdirSync(join(base, dirname(target)), { recursive: true });
    writeFileSync(join(base, target), "");
  }
  const cases: [string, string][] = [
    ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"],
    ["/usr/lib/x86_64-linux-gnu/libc.so", "/usr/lib/x86_64-linux-gnu/libc.so.6"],
    ["/usr/bin/awk", "/etc/alternatives/awk"],
    ["/awk", "/etc/alternatives/awk"],
    ["/usr/lib/here", "/usr/lib/x86_64-linux-gnu"],
    ["/usr/share/x", "/usr/bin/../lib/x"],
  ];
  for (const [at, target] of cases) {
    const text = imageLinkTarget(at, target);
    t.notOk(text.startsWith("/"), `${at} -> ${text} is relative`);
    const host = join(base, at);
    mkdirSync(dirname(host), { recursive: true });
    rmSync(host, { force: true });
    symlinkSync(text, host);
    t.equal(realpathSync(host), realpathSync(join(base, target)), `${at} -> ${text} reaches ${target}`);
  }
  t.equal(imageLinkTarget("/a/b", "c/d"), "c/d", "a relative target is kept as it is");
});

t.test("expandGlob matches what bash's globbing of the same tree matches", async (t) => {
  const base = join(dir, "glob");
  build(base, [
    ["/etc/a.conf", "file"],
    ["/etc/b.conf", "file"],
    ["/etc/.hidden.conf", "file"],
    ["/etc/conf.d/c.conf", "file"],
    ["/etc/conf.d/deep/d.conf", "file"],
    ["/usr/lib/libx.so.1", "file"],
    ["/usr/lib/sub/liby.so", "file"],
    ["/usr/lib/link", "sub"],
    ["/usr/share/zoneinfo/UTC", "file"],
  ]);
  const root = new RootFs(base);
  // Not compared: `**` below a symlinked directory (bash 5.2 matches /usr/lib/**/*.so in
  // /usr/lib/link/, expandGlob does not follow it) and a trailing `**` (bash also yields the
  // directory itself).
  const patterns = ["/etc/*.conf", "/etc/*/*.conf", "/usr/lib/lib?.so*", "/usr/*/[sz]*", "/usr/lib/sub/**/*.so", "/etc/**/*.conf", "/etc/conf.d/**/*", "/usr/lib/link/*", "/nothing/*"];
  for (const pattern of patterns) {
    // dotglob: magicpak's leading dots match; globstar: ** crosses levels (bash >= 4.3 does not
    // follow symlinked directories in it); nullglob: no match is no words.
    const script = `shopt -s dotglob globstar nullglob; cd "$1" && for m in .${pattern}; do printf '%s\\n' "\${m#.}"; done`;
    const out = execFileSync("bash", ["-c", script, "bash", base], { encoding: "utf8", env: { LC_ALL: "C" } });
    const bash = out
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.replace(/\/$/, ""))
      .sort();
    t.same(expandGlob(root, pattern, "/"), bash, pattern);
  }
});

t.test("isExcluded: an entry goes when it or an ancestor matches, as fnmatch (`*` crossing '/') says", async (t) => {
  const paths = ["/usr/share/doc/bash/README", "/usr/share/doc", "/usr/lib/libc.a", "/usr/lib/x86_64-linux-gnu/libm.a", "/etc/passwd", "/usr/share/man/man1/ls.1.gz", "/usr/bin/ls"];
  // fnmatch, like magicpak 1.4.0's glob crate, lets `*` cross '/': /usr/lib/*.a also excludes
  // /usr/lib/x86_64-linux-gnu/libm.a.
  const patterns = ["/usr/share/*", "/usr/share/doc", "/usr/lib/*.a", "*.a", "/etc/pass?d", "/usr/*/man", "*.gz", "/usr/bin/[a-l]s", "/usr/bin/[!a-l]s", "/usr/*/ls", "/u?r/lib"];
  const open = new Set<string>();
  // Python's fnmatch: whole-string match, `*` and `?` cross '/'. A pattern without '/' is matched
  // against names (each component), as magicpak documents; with one, against the path and its ancestors.
  const script = [
    "import fnmatch, json, sys",
    "paths, patterns = json.loads(sys.argv[1]), json.loads(sys.argv[2])",
    "def ancestors(p):",
    "    parts = p.split('/')[1:]",
    "    return ['/' + '/'.join(parts[:i]) for i in range(len(parts), 0, -1)]",
    "out = {}",
    "for pat in patterns:",
    "    for p in paths:",
    "        subjects = [a.rsplit('/', 1)[1] for a in ancestors(p)] if '/' not in pat else ancestors(p)",
    "        out[pat + ' ' + p] = any(fnmatch.fnmatchcase(s, pat) for s in subjects)",
    "print(json.dumps(out))",
  ].join("\n");
  const r = spawnSync("python3", ["-c", script, JSON.stringify(paths), JSON.stringify(patterns)], { encoding: "utf8" });
  t.equal(r.status, 0, r.stderr);
  const expected = JSON.parse(r.stdout) as Record<string, boolean>;
  for (const pattern of patterns) {
    for (const path of paths) {
      const key = `${pattern} ${path}`;
      if (!open.has(key)) t.equal(isExcluded(path, pattern), expected[key], key);
    }
  }
});

t.test("substituteDst expands as the real ld.so expands LD_LIBRARY_PATH", async (t) => {
  const abi = hostAbi();
  t.ok(abi && abi.name === "amd64", "this test runs on an x86-64 host with glibc");
  if (!abi) return;
  const interpreter = abi.glibcInterpreters[0]!;
  const config = new Loader("/").config("glibc", abi, interpreter);
  const elements = ["/t/$LIB/a", "/t/${PLATFORM}/b", "$ORIGIN/../c", "/t/$FOO/d", "/t/${LIB}x/e", "/t/$LIBx/f", "/t/${ORIGIN}", "/t/$$LIB/g"];
  // LD_DEBUG=libs prints the expanded list as the loader will search it; $ORIGIN is the
  // directory of the program as executed.
  const r = spawnSync("/usr/bin/true", [], { encoding: "utf8", env: { LD_LIBRARY_PATH: elements.join(":"), LD_DEBUG: "libs" } });
  const line = /search path=([^\t\n]*)\t+\(LD_LIBRARY_PATH\)/.exec(r.stderr)?.[1];
  t.ok(line, "ld.so printed the LD_LIBRARY_PATH search path", { stderr: r.stderr });
  const searched = new Set((line ?? "").split(":"));
  for (const element of elements) {
    const ours = substituteDst(element, { origin: "/usr/bin", platform: config.platform, lib: config.dstLib });
    t.ok(searched.has(ours.replace(/\/+$/, "")), `${element} -> ${ours}`, { searched: [...searched].filter((s) => !/glibc-hwcaps|\/tls|haswell|x86_64$/.test(s)) });
  }
});
