// The native resolver agrees with the TypeScript resolver on every dynamic ELF in /usr/bin.
//
// For each program, every member of its DT_NEEDED closure as our Loader finds it (name -> path as
// found) is compared with what the real loader loads for that name: dlopen(name) + dlinfo
// (RTLD_DI_LINKMAP) in a child process of the addon. A bare dlopen searches with its caller's
// RPATH/RUNPATH (none), LD_LIBRARY_PATH (none here), /etc/ld.so.cache and the system directories,
// so only the names our Loader found through the cache or a system directory are compared; the
// others are listed with their reason.

import t from "tap";
import { existsSync } from "node:fs";
import { Loader, flavourOfInterpreter } from "../../lib/index.js";
import { crossCheck, nativeLoadGraph } from "../../lib/native/resolver.js";
import { nativeAddon, nativeStatus, resolveNative } from "../../lib/native/addon.js";
import type { LoadGraph } from "../../lib/loader/model.js";
import { dynamicElfFiles } from "../support/ground-truth.js";

if (!nativeAddon()) throw new Error(`the native addon is required by these tests: ${nativeStatus()} (${process.env["MAGICPAK_NATIVE_BUILD"] ?? "run npm run build:native"})`);

const HOST_MACHINE = process.arch === "x64" ? 62 : 183;
const loader = new Loader("/", { cpu: "host" });

t.test("every dynamic ELF in /usr/bin: the native resolver agrees with the TypeScript resolver", async (t) => {
  t.equal(process.env["LD_LIBRARY_PATH"] ?? null, null, "the test runs without LD_LIBRARY_PATH (the loader of every child would search it)");
  const { files, unreadable } = dynamicElfFiles(["/usr/bin"]);
  for (const u of unreadable) t.comment(`exception: ${u.path}: not analysed: ${u.reason}`);
  const graphs: LoadGraph[] = [];
  for (const { path, elf } of files) {
    if (elf.header.machine !== HOST_MACHINE || elf.header.class !== 2) t.comment(`exception: ${path}: not this machine's architecture: no loader here can load it`);
    else if (elf.interp !== null && flavourOfInterpreter(elf.interp) !== "glibc") t.comment(`exception: ${path}: interpreter ${elf.interp} is not glibc's, the loader dlopen asks`);
    else if (elf.interp !== null && !existsSync(elf.interp)) t.comment(`exception: ${path}: its interpreter ${elf.interp} is not installed`);
    else graphs.push(loader.load(path, { mode: "program" }));
  }
  t.ok(graphs.length > 50, `${graphs.length} programs of /usr/bin are compared`);

  const { entries, skipped } = await crossCheck(graphs);
  const reasons = new Map<string, Set<string>>();
  for (const s of skipped) {
    const key = `${s.name} (${s.foundBy}): ${s.reason}`;
    if (!reasons.has(key)) reasons.set(key, new Set());
    reasons.get(key)!.add(s.program);
  }
  for (const [key, programs] of reasons) t.comment(`exception: ${key}; in ${[...programs].slice(0, 3).join(", ")}${programs.size > 3 ? ` and ${programs.size - 3} more` : ""}`);
  for (const e of entries) if (e.loadError) t.comment(`note: ${e.name}: the loader located ${e.ours} (as we do) but could not load it: ${e.loadError}`);

  const byName = new Map(entries.map((e) => [e.name, e]));
  let members = 0;
  let programsAgreeing = 0;
  for (const graph of graphs) {
    const ours: Record<string, string> = {};
    const native: Record<string, string> = {};
    for (const object of graph.objects.slice(1)) {
      const entry = byName.get(object.name);
      if (!entry || entry.ours !== object.path) continue; // listed above
      members++;
      ours[object.name] = object.path;
      native[object.name] = entry.agree ? object.path : (entry.native.path ?? `(error: ${entry.native.error})`);
    }
    if (JSON.stringify(ours) === JSON.stringify(native)) programsAgreeing++;
    else t.same(native, ours, `${graph.input}: name -> path`);
  }
  const agreeing = entries.filter((e) => e.agree).length;
  t.equal(agreeing, entries.length, `${agreeing} of ${entries.length} distinct library names agree`);
  t.equal(programsAgreeing, graphs.length, `${programsAgreeing} of ${graphs.length} programs agree on all ${members} compared closure members (${skipped.length} listed exceptions)`);
  t.ok(entries.length > 20, "a meaningful number of names was compared");
});

t.test("nativeLoadGraph: the real loader's closure of a program, shaped like the Loader's objects", async (t) => {
  const path = existsSync("/usr/bin/ssh") ? "/usr/bin/ssh" : "/bin/ls";
  const native = await nativeLoadGraph(path);
  const ours = loader.load(path);
  t.equal(native.objects[0]?.path, path);
  t.same(native.missing, [], "nothing missing");
  const interpreter = ours.objects.find((o) => o.foundBy === "interpreter")?.realPath;
  const asMap = (objects: { name: string; path: string; realPath: string }[]) =>
    Object.fromEntries(
      objects
        .slice(1)
        .filter((o) => o.realPath !== interpreter)
        .map((o) => [o.name, [o.path, o.realPath]]),
    );
  t.same(asMap(native.objects), asMap(ours.objects), `${path}: same names, paths and real paths (the interpreter aside: the kernel places it)`);
  for (const o of native.objects.slice(1)) t.ok(o.loader !== null && o.requestedBy.includes(o.loader), `${o.name} is needed by object ${o.loader}`);
});

t.test("dlopenResolve: errors carry dlerror(), each name in a fresh child, other LD_LIBRARY_PATH in a helper process", async (t) => {
  const [missing, dir, libc] = await resolveNative(["libmagicpak-does-not-exist.so.9", "/usr", "libc.so.6"]);
  t.same(missing, { name: "libmagicpak-does-not-exist.so.9", path: null, error: "libmagicpak-does-not-exist.so.9: cannot open shared object file: No such file or directory" });
  t.match(dir?.error ?? "", /^\/usr: cannot read file data: Is a directory$/);
  t.match(libc?.path ?? "", /^\/lib\/[a-z0-9_]+-linux-gnu\/libc\.so\.6$/);
  const elsewhere = await resolveNative(["libc.so.6"], { libraryPath: "/nonexistent:/also/not/here" });
  t.same(elsewhere[0]?.path, libc?.path, "through a fresh process with LD_LIBRARY_PATH set");
});
