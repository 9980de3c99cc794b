// Bundle and run, each in a fresh jail holding only the bundle plus busybox.
//
// For each program: the real CLI bundles it with --test (exit 0, OUTPUT written), then the test
// runs the bundle again in a jail of its own making (test/support/scratch-jail.ts: a copy of
// OUTPUT, a static busybox, unshare + chroot), independent of lib/jail. Expected outputs come from
// the real programs on the host (or in the root they were bundled from), or from node itself.

import t, { type Test } from "tap";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, appendFileSync, copyFileSync, chmodSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, tool } from "../support/fixtures.js";
import { bundleStats, describeStats, magicpakCli, pathInJail, runProcess, shellQuote, withFreshJail, type ProcessResult } from "../support/scratch-jail.js";

const work = mkdtempSync(join(tmpdir(), "magicpak-e2e-programs-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** A program the test bundles from the host: its absence is a failure with the remedy. */
function hostProgram(path: string, debianPackage: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing on this host: these tests bundle the host's own ${debianPackage} (apt-get install ${debianPackage})`);
  return path;
}

/** A program of the provisioned amd64 root (AMD64_EXTRA_PKGS in test/fixtures/provision.sh). */
function amd64RootProgram(path: string): { root: string; path: string } {
  const root = fixture("MAGICPAK_AMD64_ROOT");
  if (!existsSync(join(root, path))) throw new Error(`${path} is missing from the amd64 root ${root}: run \`npm run fixtures\` (test/fixtures/provision.sh)`);
  return { root, path };
}

/** Runs the CLI with ARGS, where "OUT" is the output; asserts exit 0 and that OUTPUT exists; reports what was bundled. */
async function bundleWithCli(t: Test, name: string, args: string[]): Promise<string> {
  const out = join(work, name);
  const r = await magicpakCli(args.map((a) => (a === "OUT" ? out : a)));
  t.equal(r.status, 0, `magicpak ${args.map((a) => (/^[\w/.:=-]+$/.test(a) ? a : shellQuote(a))).join(" ")}`, { stderr: r.stderr });
  t.ok(existsSync(out), "OUTPUT was written");
  if (existsSync(out)) t.comment(`${name}: ${describeStats(bundleStats(out))}; magicpak took ${r.ms} ms`);
  return out;
}

/** The same program outside any jail, as the reference. */
async function reference(command: string, args: string[], options: { stdin?: string | Buffer; env?: Record<string, string> } = {}): Promise<ProcessResult> {
  const r = await runProcess(command, args, options);
  if (r.status !== 0) throw new Error(`reference run ${command} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r;
}

function ok(t: Test, r: ProcessResult, what: string): void {
  t.equal(r.status, 0, `${what}: exit 0 in the fresh jail`, { stderr: r.stderr });
}

t.test("bash: a script with a pipeline, fed on standard input", async (t) => {
  const bash = hostProgram("/usr/bin/bash", "bash");
  // Only bash itself: builtins, a pipeline between subshells, and bash starting bash ($BASH).
  const script = [
    "set -o pipefail",
    "words=(delta alpha charlie bravo)",
    `printf '%s\\n' "\${words[@]}" | while read -r w; do echo "\${#w}:\${w^^}"; done | "$BASH" -c 'mapfile -t l; echo "\${#l[@]} lines: \${l[*]}"'`,
    'echo "$(( 6 * 7 )) bash-${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]} $BASH"',
    "",
  ].join("\n");
  const expected = (await reference(bash, [], { stdin: script })).stdout;
  t.match(expected, /^4 lines: 5:DELTA 5:ALPHA 7:CHARLIE 5:BRAVO\n42 bash-/);
  const out = await bundleWithCli(t, "bash", [bash, "OUT", "--test", "--test-command", "bash", "--test-stdin", script, "--test-stdout", expected.trim()]);
  await withFreshJail(out, async (jail) => {
    const r = await jail.run("bash", { stdin: script });
    ok(t, r, "bash");
    t.equal(r.stdout, expected, "the same output as the host's bash");
  });
});

// The CLI's test command is a bare `ls`: the bundle's ls must win over busybox's applet.
t.test("ls: lists the jail it runs in", async (t) => {
  const ls = hostProgram("/usr/bin/ls", "coreutils");
  const version = (await reference(ls, ["--version"])).stdout;
  const out = await bundleWithCli(t, "ls", [ls, "OUT", "--test", "--test-command", "ls --version", "--test-stdout", version.trim()]);
  await withFreshJail(out, async (jail) => {
    // The host's ls lists the same directories from outside (C collation: no LANG in either).
    const root = (await reference(ls, ["-1a", jail.dir])).stdout;
    const libdir = (await reference(ls, ["-ln", "--time-style=+%s", pathInJail(jail.dir, "/usr/lib/x86_64-linux-gnu")])).stdout;
    // By its path: busybox's sh runs its own ls applet before any ls on PATH.
    const r = await jail.run("/usr/bin/ls -1a / && /usr/bin/ls -ln --time-style=+%s /usr/lib/x86_64-linux-gnu");
    ok(t, r, "ls");
    t.equal(r.stdout, root + libdir, "the listing the host's ls gives of the same directories");
    t.match(r.stdout, /libc\.so\.6/);
  });
});

t.test("python3: the interpreter finds its standard library and extension modules in the bundle", async (t) => {
  // The system interpreter (pyenv's shim on PATH is another program).
  const python = hostProgram("/usr/bin/python3", "python3");
  const script = [
    "import sys, json, hashlib, sqlite3",
    "import _hashlib, _sqlite3",
    "con = sqlite3.connect(':memory:')",
    "con.execute('create table t(k text, v integer)')",
    "con.executemany('insert into t values (?, ?)', [('a', 1), ('b', 2), ('c', 3)])",
    "rows = con.execute('select k, v * 10 from t where v > 1 order by v').fetchall()",
    "print(json.dumps({'rows': rows, 'sha256': hashlib.sha256(b'magicpak').hexdigest(), 'md5': _hashlib.openssl_md5(b'x').hexdigest()}, sort_keys=True))",
    "print(sys.prefix, json.__file__, hashlib.__file__, sqlite3.__file__)",
    "print(_hashlib.__file__, _sqlite3.__file__)",
    "",
  ].join("\n");
  const expected = (await reference(python, ["-I", "-"], { stdin: script })).stdout;
  const stdlib = /^\/usr\/lib\/python3\.\d+$/.exec((await reference(python, ["-I", "-c", "import os; print(os.path.dirname(os.__file__))"])).stdout.trim())?.[0];
  if (!stdlib) throw new Error("the host's /usr/bin/python3 does not keep its standard library in /usr/lib/python3.X");
  t.match(expected, new RegExp(`${stdlib}/lib-dynload/_sqlite3\\.cpython-[^ ]+\\.so\\n$`));
  // The standard library (pure Python and lib-dynload), without the 24 MB static libpython of
  // config-3.X-*, which only builds extensions; dist-packages is not needed.
  const out = await bundleWithCli(t, "python3", [
    python,
    "OUT",
    "--include",
    `${stdlib}/**`,
    "--exclude",
    `${stdlib}/config-*`,
    "--test",
    "--test-command",
    "python3 -I -",
    "--test-stdin",
    script,
    "--test-stdout",
    expected.trim(),
  ]);
  t.same(existsSync(join(out, stdlib)) ? readdirSync(join(out, stdlib)).filter((n) => n.startsWith("config-")) : ["(no stdlib)"], [], "config-3.X-* excluded");
  await withFreshJail(out, async (jail) => {
    const r = await jail.run("/usr/bin/python3 -I -", { stdin: script });
    ok(t, r, "python3");
    t.equal(r.stdout, expected, "the same output as the host's python3, modules from the same paths");
  });
});

t.test("openssl: sha256 of standard input, as node computes it", async (t) => {
  const openssl = hostProgram("/usr/bin/openssl", "openssl");
  const input = Buffer.concat([Buffer.from("magicpak e2e ✓\n"), randomBytes(4096)]);
  const digest = createHash("sha256").update(input).digest("hex");
  const version = (await reference(openssl, ["version"])).stdout;
  const command = "openssl dgst -sha256 -r | cut -d' ' -f1";
  const out = await bundleWithCli(t, "openssl", [
    openssl,
    "OUT",
    "--test",
    "--test-command",
    "openssl dgst -sha256 -r",
    "--test-stdin",
    "abc",
    "--test-stdout",
    `${createHash("sha256").update("abc").digest("hex")} *stdin`,
  ]);
  await withFreshJail(out, async (jail) => {
    const r = await jail.run(command, { stdin: input });
    ok(t, r, "openssl dgst");
    t.equal(r.stdout.trim(), digest, "node's sha256 of the same bytes");
    const v = await jail.run("openssl version");
    ok(t, v, "openssl version");
    t.equal(v.stdout, version, "the host's openssl version");
  });
});

t.test("sqlite3: create, insert, select in :memory:", async (t) => {
  const sqlite3 = hostProgram("/usr/bin/sqlite3", "sqlite3");
  const sql = "create table t(k text, v int); insert into t values('a',1),('b',2),('c',3); select group_concat(k || v, ',') from t where v > 1; select sum(v) * 7 from t; select sqlite_version();";
  const expected = (await reference(sqlite3, [":memory:", sql])).stdout;
  t.match(expected, /^b2,c3\n42\n3\./);
  const command = `sqlite3 :memory: ${shellQuote(sql)}`;
  const out = await bundleWithCli(t, "sqlite3", [sqlite3, "OUT", "--test", "--test-command", command, "--test-stdout", expected.trim()]);
  await withFreshJail(out, async (jail) => {
    const r = await jail.run(command);
    ok(t, r, "sqlite3");
    t.equal(r.stdout, expected, "the host's sqlite3 output");
  });
});

t.test("jq: a filter on standard input", async (t) => {
  const jq = hostProgram("/usr/bin/jq", "jq");
  const expected = (await reference(jq, ["-c", ".a"], { stdin: '{"a":[1,2]}' })).stdout.trim();
  t.equal(expected, "[1,2]");
  const out = await bundleWithCli(t, "jq", [jq, "OUT", "--test-stdin", '{"a":[1,2]}', "--test-command", "jq -c .a", "--test-stdout", "[1,2]", "--test"]);
  await withFreshJail(out, async (jail) => {
    const doc = JSON.stringify({ xs: [3, 1, 2], name: "magicpak" });
    const filter = "{n: .name, s: (.xs | sort | map(. * 10)), l: (.xs | length)}";
    const want = (await reference(jq, ["-c", filter], { stdin: doc })).stdout;
    const r = await jail.run(`jq -c ${shellQuote(filter)}`, { stdin: doc });
    ok(t, r, "jq");
    t.equal(r.stdout, want, "the host's jq output");
  });
});

t.test("git --version (and a builtin that needs no repository)", async (t) => {
  const git = hostProgram("/usr/bin/git", "git");
  const version = (await reference(git, ["--version"])).stdout;
  const out = await bundleWithCli(t, "git", [git, "OUT", "--test", "--test-command", "git --version", "--test-stdout", version.trim()]);
  await withFreshJail(out, async (jail) => {
    const v = await jail.run("git --version");
    ok(t, v, "git --version");
    t.equal(v.stdout, version, "the host's git --version");
    const blob = "magicpak e2e\n";
    const hash = (await reference(git, ["hash-object", "--stdin"], { stdin: blob })).stdout;
    const h = await jail.run("git hash-object --stdin", { stdin: blob });
    ok(t, h, "git hash-object");
    t.equal(h.stdout, hash, "the host's git hash-object");
  });
});

t.test("curl: HTTP from a server of the test's own on 127.0.0.1", async (t) => {
  const curl = hostProgram("/usr/bin/curl", "curl");
  const body = `magicpak e2e ${randomBytes(8).toString("hex")}\n`;
  const server = createServer((req, res) => {
    res.writeHead(req.url === "/hello" ? 200 : 404, { "content-type": "text/plain" });
    res.end(req.url === "/hello" ? body : "not found\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  // A name from /etc/hosts goes through NSS: glibc 2.36 has the "files" service built in, so
  // /etc/hosts is enough (no libnss_files); nsswitch.conf keeps "files" ahead of "dns".
  // curl resolves "localhost" itself (since 7.78), without NSS.
  const out = await bundleWithCli(t, "curl", [
    curl,
    "OUT",
    "--include",
    "/etc/hosts",
    "--include",
    "/etc/nsswitch.conf",
    "--test",
    "--test-network",
    "host",
    "--test-command",
    `curl -sS http://127.0.0.1:${port}/hello`,
    "--test-stdout",
    body.trim(),
  ]);
  t.equal(readFileSync(join(out, "etc/hosts"), "utf8"), readFileSync("/etc/hosts", "utf8"), "/etc/hosts included");
  t.notOk(existsSync(join(out, "usr/lib/x86_64-linux-gnu/libnss_files.so.2")), "no NSS module needed");
  await withFreshJail(out, async (jail) => {
    // The image's own host entry, as a Dockerfile or `docker run --add-host` would add it.
    appendFileSync(pathInJail(jail.dir, "/etc/hosts"), "127.0.0.1 magicpak-e2e-host\n");
    for (const host of ["127.0.0.1", "localhost", "magicpak-e2e-host"]) {
      const r = await jail.run(`curl -sS http://${host}:${port}/hello`);
      ok(t, r, `curl http://${host}`);
      t.equal(r.stdout, body, `the server's body through http://${host}:${port}`);
    }
    const missing = await jail.run(`curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:${port}/nothing`);
    t.equal(missing.stdout, "404", "a status code written by curl");
  });
});

t.test("clang-format from the amd64 root: magicpak's own example", async (t) => {
  const { root, path } = amd64RootProgram("/usr/bin/clang-format");
  const run = (args: string[], stdin: string) => reference("chroot", [root, path, ...args], { stdin });
  const expected = (await run([], "int main(  ){ }")).stdout.trim();
  t.equal(expected, "int main() {}", "the root's own clang-format agrees with the example");
  const out = await bundleWithCli(t, "clang-format", ["--root", root, path, "OUT", "--test-stdin", "int main(  ){ }", "--test-stdout", expected, "--install-to", "/bin/", "--test"]);
  await withFreshJail(out, async (jail) => {
    const source = '#include <stdio.h>\nint f(int a,int b){return a+b;}\nint main(){printf("%d\\n",f(1,2));}\n';
    const want = (await run(["--style=LLVM"], source)).stdout;
    const r = await jail.run("/bin/clang-format --style=LLVM", { stdin: source });
    ok(t, r, "clang-format");
    t.equal(r.stdout, want, "the root's clang-format output");
    const v = await jail.run("/bin/clang-format --version");
    t.equal(v.stdout, (await run(["--version"], "")).stdout, "the root's clang-format --version");
  });
});

t.test("a musl program with its own shared library, bundled from a root holding the musl loader", async (t) => {
  const gcc = tool("musl-gcc");
  const loader = fixture("MAGICPAK_MUSL_LOADER");
  const root = join(work, "musl-root");
  const src = join(work, "musl-src");
  mkdirSync(join(root, "lib"), { recursive: true });
  mkdirSync(join(root, "usr/lib"), { recursive: true });
  mkdirSync(src, { recursive: true });
  copyFileSync(loader, join(root, "lib/ld-musl-x86_64.so.1"));
  chmodSync(join(root, "lib/ld-musl-x86_64.so.1"), 0o755);
  writeFileSync(join(src, "greet.c"), 'const char *greeting(void) { return "hello from libgreet (musl)"; }\n');
  writeFileSync(join(src, "main.c"), '#include <stdio.h>\nconst char *greeting(void);\nint main(int argc, char **argv) { printf("%s, %d args\\n", greeting(), argc); return 0; }\n');
  for (const args of [
    ["-shared", "-fPIC", "-o", join(root, "usr/lib/libgreet.so"), join(src, "greet.c")],
    ["-o", join(root, "prog"), join(src, "main.c"), `-L${join(root, "usr/lib")}`, "-lgreet"],
  ]) {
    const r = await runProcess(gcc, args);
    if (r.status !== 0) throw new Error(`musl-gcc ${args.join(" ")}: ${r.stderr}`);
  }
  const expected = (await reference("chroot", [root, "/prog", "x", "y"])).stdout;
  t.equal(expected, "hello from libgreet (musl), 3 args\n");
  const out = await bundleWithCli(t, "musl", ["--root", root, "/prog", "OUT", "--test", "--test-command", "/prog x y", "--test-stdout", expected.trim()]);
  t.ok(existsSync(join(out, "lib/ld-musl-x86_64.so.1")), "the musl loader (also libc.so) is bundled");
  t.ok(existsSync(join(out, "usr/lib/libgreet.so")), "the program's library is bundled");
  await withFreshJail(out, async (jail) => {
    const r = await jail.run("/prog x y");
    ok(t, r, "the musl program");
    t.equal(r.stdout, expected, "the same output as in its root");
  });
});
