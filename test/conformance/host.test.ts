// Conformance 1: every dynamic ELF of this machine under /usr/bin, /usr/sbin, /usr/lib and
// /usr/libexec, listed by us and by the real loader: same lines, same order.

import t from "tap";
import { existsSync, statSync } from "node:fs";
import { Loader, formatTrace, flavourOfInterpreter } from "../../lib/index.js";
import { dynamicElfFiles, isExecutable, pool, run } from "../support/ground-truth.js";

const DIRS = ["/usr/bin", "/usr/sbin", "/usr/lib", "/usr/libexec"];
const CANONICAL_INTERP = "/lib64/ld-linux-x86-64.so.2";
/** Fewer files compared than this fails the run. */
const MIN_COMPARED = 500;

const { files, unreadable } = dynamicElfFiles(DIRS);
const loader = new Loader("/", { cpu: "host" });

interface Case {
  path: string;
  skip: string | null;
  how: "exec" | "list";
  interp: string;
}

const cases: Case[] = files.map(({ path, elf }) => {
  const interp = elf.interp;
  if (interp !== null && flavourOfInterpreter(interp) !== "glibc") return { path, skip: `interpreter ${interp} is not glibc's`, how: "list", interp };
  if (interp !== null && !existsSync(interp)) {
    return { path, skip: `its interpreter ${interp} is not installed here, so the kernel cannot start it and no loader can list it`, how: "list", interp };
  }
  if (elf.header.machine !== 62 || elf.header.class !== 2) return { path, skip: "not an x86-64 object: no loader on this machine lists it", how: "list", interp: CANONICAL_INTERP };
  // A set-user/group-ID program starts in secure mode, which ignores LD_TRACE_LOADED_OBJECTS and really
  // runs it: ask `ld.so --list` instead. Non-executable files cannot be started at all.
  const setId = (statSync(path).mode & 0o6000) !== 0;
  const how = interp !== null && isExecutable(path) && !setId ? "exec" : "list";
  return { path, skip: null, how, interp: interp ?? CANONICAL_INTERP };
});

t.test("host: every dynamic ELF agrees with the real loader", async (t) => {
  for (const u of unreadable) t.comment(`exception: ${u.path}: not analysed: ${u.reason}`);
  const active = cases.filter((c) => c.skip === null);
  for (const c of cases) if (c.skip) t.comment(`exception: ${c.path}: ${c.skip}`);
  const truths = await pool(active, 4, (c) =>
    // Libraries: what ldd runs, `LD_TRACE_LOADED_OBJECTS=1 ld.so FILE`. It prints the same as
    // `ld.so --list FILE` except that a missing library is listed as "not found" instead of aborting.
    c.how === "exec" ? run(c.path, [], { LD_TRACE_LOADED_OBJECTS: "1" }) : run(c.interp, [c.path], { LD_TRACE_LOADED_OBJECTS: "1" }),
  );
  let agreed = 0;
  active.forEach((c, i) => {
    const truth = truths[i]!;
    const graph = loader.load(c.path, { mode: c.how === "exec" ? "program" : "library" });
    const ours = formatTrace(graph, c.path);
    const same = JSON.stringify(ours.lines) === JSON.stringify(truth.lines);
    if (same) agreed++;
    t.same(ours.lines, truth.lines, `${c.path} (${c.how})`);
  });
  t.equal(agreed, active.length, `${agreed} of ${active.length} dynamic ELF files agree (${cases.length - active.length + unreadable.length} listed exceptions)`);
  // A machine with (nearly) nothing to compare is a broken test set-up, not a pass: this one has
  // over 2000 dynamic ELF files in those directories; a bare Debian image has several hundred.
  t.ok(active.length >= MIN_COMPARED, `${active.length} files compared (at least ${MIN_COMPARED} expected)`);
});
