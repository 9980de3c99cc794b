// --json: one versioned document for one file or many, valid against the shipped JSON Schema
// (schema/list.schema.json, checked by ajv), its objects the ones the real loader loads.

import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import _Ajv2020 from "ajv/dist/2020.js";
import { normaliseTrace } from "../support/ground-truth.js";
import { fixture, tool } from "../support/fixtures.js";

const Ajv2020 = _Ajv2020 as unknown as typeof _Ajv2020.default;
const repo = new URL("../../../", import.meta.url).pathname;
const bin = join(repo, "bin/magicpak.js");
const schema = JSON.parse(readFileSync(join(repo, "schema/list.schema.json"), "utf8")) as object;
const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema);

const dir = mkdtempSync(join(tmpdir(), "magicpak-json-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface Doc {
  schemaVersion: number;
  resolver: string;
  files: {
    file: string;
    complete: boolean;
    error: string | null;
    graph: { flavour?: string; objects: { name: string; path: string; realPath: string; package?: { name: string } | null }[]; missing: { name: string }[] } | null;
  }[];
}

function json(...args: string[]): { status: number | null; doc: Doc; stderr: string } {
  const r = spawnSync(process.execPath, [bin, "--json", ...args], { encoding: "utf8", env: {}, maxBuffer: 1 << 26 });
  const doc = JSON.parse(r.stdout) as Doc;
  return { status: r.status, doc, stderr: r.stderr };
}

/** What schema/list.schema.json finds wrong with `doc` (none: valid). */
function schemaErrors(doc: unknown): string[] {
  return validate(doc) ? [] : (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath} ${e.message}`);
}

/** No "name" or "path" anywhere in the document is empty. */
function emptyNames(value: unknown, at = "$"): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => emptyNames(v, `${at}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => ((k === "name" || k === "path") && v === "" ? [`${at}.${k}`] : emptyNames(v, `${at}.${k}`)));
}

/** The names the real loader lists for a program (LD_TRACE_LOADED_OBJECTS=1), interpreter included. */
function loaderNames(file: string): string[] {
  return normaliseTrace(execFileSync(file, [], { encoding: "utf8", env: { LD_TRACE_LOADED_OBJECTS: "1" } })).map((l) => l.trim().split(" ")[0]!);
}

t.test("one file: the same document shape as several, with a schema version", async (t) => {
  const one = json("/usr/bin/ssh");
  t.equal(one.status, 0, one.stderr);
  t.same(schemaErrors(one.doc), [], "ssh");
  t.equal(one.doc.schemaVersion, 1);
  t.equal(one.doc.resolver, "ts");
  t.equal(one.doc.files.length, 1);
  const entry = one.doc.files[0]!;
  t.equal(entry.file, "/usr/bin/ssh");
  t.equal(entry.complete, true);
  t.equal(entry.error, null);
  const objects = entry.graph!.objects;
  t.same(
    objects
      .slice(1)
      .map((o) => o.name)
      .sort(),
    loaderNames("/usr/bin/ssh").sort(),
    "the loader's objects",
  );
  t.equal(objects[0]!.name, "/usr/bin/ssh", 'the main program is named by its path, not ""');
  t.equal(objects[0]!.path, "/usr/bin/ssh");
  t.equal(objects[0]!.realPath, realpathSync("/usr/bin/ssh"));
  t.same(emptyNames(one.doc), [], "no empty name or path");
  const owner = execFileSync("dpkg-query", ["-S", realpathSync("/usr/bin/ssh")], { encoding: "utf8" }).split(":")[0];
  t.equal(objects[0]!.package?.name, owner, "the package dpkg-query names");

  const several = json("/usr/bin/ssh", "/usr/bin/ls");
  t.equal(several.status, 0);
  t.same(schemaErrors(several.doc), [], "ssh and ls");
  t.same(
    several.doc.files.map((f) => f.file),
    ["/usr/bin/ssh", "/usr/bin/ls"],
  );
  t.same(several.doc.files[0], entry, "the same entry as alone");
  t.same(Object.keys(several.doc), Object.keys(one.doc), "one shape");
});

t.test("a missing file: an error entry and exit 1, no bogus []", async (t) => {
  const r = json("/nonexistent/prog");
  t.equal(r.status, 1);
  t.equal(r.stderr, "error: /nonexistent/prog: No such file or directory\n");
  t.same(schemaErrors(r.doc), [], "missing file");
  t.same(r.doc.files, [{ file: "/nonexistent/prog", complete: false, error: "No such file or directory", graph: null }]);
  const mixed = json("/usr/bin/ls", "/nonexistent/prog");
  t.equal(mixed.status, 1);
  t.same(schemaErrors(mixed.doc), [], "ls and a missing file");
  t.same(
    mixed.doc.files.map((f) => [f.file, f.complete, f.error]),
    [
      ["/usr/bin/ls", true, null],
      ["/nonexistent/prog", false, "No such file or directory"],
    ],
  );
});

t.test("a missing library, a static program, a musl program and a foreign root are valid too", async (t) => {
  writeFileSync(join(dir, "gone.c"), "int gone(void) { return 0; }\n");
  writeFileSync(join(dir, "main.c"), "int gone(void); int main(void) { return gone(); }\n");
  execFileSync("gcc", ["-shared", "-fPIC", "-o", join(dir, "libgone.so"), join(dir, "gone.c")]);
  execFileSync("gcc", ["-o", join(dir, "needs-gone"), join(dir, "main.c"), `-L${dir}`, "-lgone"]);
  rmSync(join(dir, "libgone.so"));
  const gone = json(join(dir, "needs-gone"));
  t.equal(gone.status, 1);
  t.same(schemaErrors(gone.doc), [], "missing library");
  t.equal(gone.doc.files[0]!.complete, false);
  t.same(
    gone.doc.files[0]!.graph!.missing.map((m) => m.name),
    ["libgone.so"],
  );

  const busybox = fixture("MAGICPAK_BUSYBOX");
  const stat = json(busybox);
  t.equal(stat.status, 0, stat.stderr);
  t.same(schemaErrors(stat.doc), [], "static busybox");
  t.equal(stat.doc.files[0]!.graph!.flavour, "static");

  const muslRoot = join(dir, "musl-root");
  mkdirSync(join(muslRoot, "lib"), { recursive: true });
  copyFileSync(fixture("MAGICPAK_MUSL_LOADER"), join(muslRoot, "lib/ld-musl-x86_64.so.1"));
  chmodSync(join(muslRoot, "lib/ld-musl-x86_64.so.1"), 0o755);
  writeFileSync(join(dir, "hello.c"), '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n');
  execFileSync(tool("musl-gcc"), ["-o", join(muslRoot, "hello"), join(dir, "hello.c")]);
  const musl = json("--root", muslRoot, "/hello");
  t.equal(musl.status, 0, musl.stderr);
  t.same(schemaErrors(musl.doc), [], "musl program");
  t.equal(musl.doc.files[0]!.graph!.flavour, "musl");

  const arm64 = json("--root", fixture("MAGICPAK_ARM64_ROOT"), "/usr/bin/ssh", "/usr/bin/bash");
  t.equal(arm64.status, 0, arm64.stderr);
  t.same(schemaErrors(arm64.doc), [], "arm64 root");
  t.same(emptyNames(arm64.doc), []);
  t.match(arm64.doc.files[0]!.graph!.objects.find((o) => o.name === "libc.so.6")?.package, { name: "libc6" }, "the arm64 root's own dpkg database");
});

t.test("--resolver native: the same document, resolver native", async (t) => {
  const r = json("--resolver", "native", "/usr/bin/ssh", "/nonexistent/prog");
  t.equal(r.status, 1);
  t.same(schemaErrors(r.doc), [], "native resolver");
  t.equal(r.doc.resolver, "native");
  t.same(emptyNames(r.doc), []);
  const base = (n: string) => n.replace(/^.*\//, "");
  t.same(
    r.doc.files[0]!.graph!.objects.slice(1)
      .map((o) => base(o.name))
      .sort(),
    loaderNames("/usr/bin/ssh").map(base).sort(),
    "the loader's names",
  );
  t.equal(r.doc.files[1]!.error !== null, true);
});
