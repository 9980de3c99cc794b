// Conformance 3: foreign root filesystems. Every dynamic ELF of the provisioned Debian arm64 root
// (ground truth: the root's own loader in trace mode inside a chroot, through qemu-user copied
// into the root; not `qemu -L`, which leaks host files) and, in the reverse direction, of an
// amd64 root analysed through the same foreign-root code path.

import t from "tap";
import { statSync } from "node:fs";
import { Loader, formatTrace, flavourOfInterpreter } from "../../lib/index.js";
import { dynamicElfFiles, pool, run } from "../support/ground-truth.js";
import { fixture } from "../support/fixtures.js";

interface RootCase {
  arch: string;
  root: string;
  interpreter: string;
  /** argv prefix inside the chroot that runs a guest program. */
  runner: string[];
}

function roots(): RootCase[] {
  return [
    {
      arch: "arm64",
      root: fixture("MAGICPAK_ARM64_ROOT"),
      interpreter: "/lib/ld-linux-aarch64.so.1",
      runner: [fixture("MAGICPAK_QEMU_AARCH64_IN_ROOT"), "-E", "LD_TRACE_LOADED_OBJECTS=1"],
    },
    // The variable is set inside the root by its own env(1): set on chroot(1) it would trace chroot itself.
    { arch: "amd64", root: fixture("MAGICPAK_AMD64_ROOT"), interpreter: "/lib64/ld-linux-x86-64.so.2", runner: ["/usr/bin/env", "LD_TRACE_LOADED_OBJECTS=1"] },
  ];
}

let cases: RootCase[] = [];
try {
  cases = roots();
} catch (error) {
  t.fail((error as Error).message);
}

for (const rc of cases) {
  t.test(`${rc.arch} root: every dynamic ELF agrees with the root's own loader`, async (t) => {
    const { files, unreadable } = dynamicElfFiles(["/usr", "/etc", "/opt"], rc.root);
    for (const u of unreadable) t.comment(`exception: ${u.path}: not analysed: ${u.reason}`);
    t.ok(files.length > 300, `${files.length} dynamic ELF files in the ${rc.arch} root (a real root, not a toy)`);
    // The host CPU is not the target's: analyse as for an unknown machine of that architecture.
    const loader = new Loader(rc.root, { cpu: null });
    const jobs = files.map(({ path, elf }) => {
      const mode = statSync(rc.root + path).mode;
      const startable = elf.interp !== null && flavourOfInterpreter(elf.interp) === "glibc" && (mode & 0o111) !== 0 && (mode & 0o6000) === 0;
      return { path, how: startable ? ("exec" as const) : ("list" as const) };
    });
    const truths = await pool(jobs, 3, (job) => run("/usr/sbin/chroot", [rc.root, ...rc.runner, ...(job.how === "exec" ? [job.path] : [rc.interpreter, job.path])], {}, 60000));
    let agreed = 0;
    jobs.forEach((job, i) => {
      const graph = loader.load(job.path, { mode: job.how === "exec" ? "program" : "library" });
      const ours = formatTrace(graph, job.path).lines;
      const truth = truths[i]!.lines;
      if (JSON.stringify(ours) === JSON.stringify(truth)) agreed++;
      t.same(ours, truth, `${rc.arch}:${job.path} (${job.how})`);
    });
    t.comment(`${rc.arch}: ${agreed} of ${jobs.length} agree`);
  });
}
