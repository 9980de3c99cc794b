// Claims of README.md, examples/README.md, the examples' Dockerfiles and docs/api.md that can be
// checked, checked against the real thing:
//   - every `npm run NAME` they tell users to type is a script of package.json;
//   - every option examples/README.md names (outside docker commands) is one `magicpak --help` lists;
//   - no Dockerfile comment calls an option unsupported that its RUN line uses;
//   - examples/README.md: a program that looks up users gets /etc/nsswitch.conf and a minimal
//     /etc/passwd and /etc/group, and `id -un` in a chroot of its bundle answers what it answers
//     on the host; --no-nss leaves them out; a program that looks nothing up gets none of them,
//     and no /tmp, CA certificates or time zones unless asked.

import t from "tap";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "bin/magicpak.js");
const read = (path: string) => readFileSync(join(root, path), "utf8");
const dir = mkdtempSync(join(tmpdir(), "magicpak-claims-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function magicpak(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" }, timeout: 300_000 });
}

const docs = ["README.md", "examples/README.md", "docs/api.md"];

t.test("every `npm run NAME` in the docs is a script of package.json", async (t) => {
  const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
  let seen = 0;
  for (const doc of docs) {
    for (const m of read(doc).matchAll(/npm run ([\w:-]+)/g)) {
      seen++;
      t.ok(m[1]! in scripts, `${doc}: npm run ${m[1]}`);
    }
  }
  t.ok(seen > 3, `${seen} mentions`);
});

t.test("every option examples/README.md names is in magicpak --help", async (t) => {
  const help = magicpak("--help");
  t.equal(help.status, 0, help.stderr);
  const listed = new Set(help.stdout.match(/--[a-z][a-z0-9-]*/g) ?? []);
  // Code spans and blocks that are not docker, podman or mmdebstrap commands (whose options are theirs or the bundled program's).
  const code = read("examples/README.md").match(/```[\s\S]*?```|`[^`\n]+`/g) ?? [];
  const named = new Set(code.filter((c) => !/\b(docker|podman|mmdebstrap) /.test(c)).flatMap((c) => c.match(/(?<![\w-])--[a-z][a-z0-9-]*/g) ?? []));
  t.ok(named.size > 5, `${named.size} options named`);
  for (const option of named) t.ok(listed.has(option), `${option} is in --help`);
});

t.test("no Dockerfile comment calls an option unsupported that its RUN line uses", async (t) => {
  for (const example of readdirSync(join(root, "examples"))) {
    const file = join(root, "examples", example, "Dockerfile");
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    const comments = text
      .split("\n")
      .filter((l) => l.startsWith("#"))
      .join(" ");
    const run = text
      .split("\n")
      .filter((l) => /^RUN .*magicpak /.test(l))
      .join(" ");
    const used = new Set(run.match(/--[a-z][a-z0-9-]*/g) ?? []);
    const unsupported = /not supported|unsupported|left out/i.test(comments) ? (comments.match(/--[a-z][a-z0-9-]*/g) ?? []).filter((o) => used.has(o)) : [];
    t.same(unsupported, [], `examples/${example}/Dockerfile`);
  }
});

const files = (out: string) => new Set(readdirSync(out, { recursive: true }).map((p) => `/${String(p)}`));

t.test("a program that looks up users gets NSS configuration and a minimal passwd; it works in a chroot", async (t) => {
  const notes = read("examples/README.md").replace(/\s+/g, " ");
  t.notMatch(notes, /no `\/etc\/passwd`/, "examples/README.md does not say no /etc/passwd is added");
  t.match(notes, "a minimal `/etc/passwd` and `/etc/group`", "examples/README.md says the minimal passwd is added");
  t.match(notes, "`/etc/nsswitch.conf`", "and the NSS configuration");
  const out = join(dir, "id");
  const r = magicpak("/usr/bin/id", out);
  t.equal(r.status, 0, r.stderr);
  const bundled = files(out);
  for (const path of ["/etc/nsswitch.conf", "/etc/passwd", "/etc/group"]) t.ok(bundled.has(path), `${path} is in the bundle`);
  t.match(readFileSync(join(out, "etc/passwd"), "utf8"), /^root:x:0:0:/m, "with root");
  const host = spawnSync("id", ["-un"], { encoding: "utf8" });
  const jailed = spawnSync("chroot", [out, "/usr/bin/id", "-un"], { encoding: "utf8" });
  t.equal(jailed.status, 0, jailed.stderr);
  t.equal(jailed.stdout, host.stdout, `id -un in the bundle: ${host.stdout.trim()}, as on the host`);

  const bare = join(dir, "id-no-nss");
  const n = magicpak("/usr/bin/id", bare, "--no-nss");
  t.equal(n.status, 0, n.stderr);
  t.notOk(files(bare).has("/etc/nsswitch.conf"), "--no-nss: no /etc/nsswitch.conf");
});

t.test("a program that looks nothing up gets none of it, and no /tmp, CA certificates or time zones", async (t) => {
  const out = join(dir, "true");
  const r = magicpak("/bin/true", out);
  t.equal(r.status, 0, r.stderr);
  const bundled = [...files(out)];
  for (const pattern of [/^\/etc\/(nsswitch\.conf|passwd|group|hosts)$/, /^\/tmp$/, /^\/etc\/ssl(\/|$)/, /^\/usr\/share\/zoneinfo(\/|$)/, /^\/etc\/localtime$/]) {
    t.same(
      bundled.filter((p) => pattern.test(p)),
      [],
      `nothing matching ${pattern}`,
    );
  }
  const asked = join(dir, "true-asked");
  const a = magicpak("/bin/true", asked, "--tmp", "--ca-certificates", "--tzdata");
  t.equal(a.status, 0, a.stderr);
  t.equal(statSync(join(asked, "tmp")).mode & 0o7777, 0o1777, "--tmp: /tmp, mode 1777");
  t.ok(existsSync(join(asked, "usr/share/zoneinfo")), "--tzdata: /usr/share/zoneinfo");
  t.ok(
    [...files(asked)].some((p) => p.startsWith("/etc/ssl/")),
    "--ca-certificates: /etc/ssl",
  );
});
