// The ELF reader against binutils' readelf (the reference), on real files of two architectures and
// on synthetic files of every class and byte order; and its behaviour on malformed input.

import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DF_1_NODEFLIB, ElfError, readElf } from "../../lib/index.js";
import { buildElf, prng } from "../support/elf-builder.js";
import { fixture } from "../support/fixtures.js";

interface Reference {
  interp: string | null;
  needed: string[];
  soname: string | null;
  rpath: string | null;
  runpath: string | null;
  nodeflib: boolean;
}

/** What readelf says about a file. */
function readelf(path: string): Reference {
  const out = execFileSync("readelf", ["-ldW", path], { encoding: "utf8", env: { LC_ALL: "C" } });
  const pick = (re: RegExp) => [...out.matchAll(re)].map((m) => m[1]!);
  return {
    interp: pick(/\[Requesting program interpreter: (.*)\]/g)[0] ?? null,
    needed: pick(/\(NEEDED\)\s+Shared library: \[(.*)\]/g),
    soname: pick(/\(SONAME\)\s+Library soname: \[(.*)\]/g)[0] ?? null,
    rpath: pick(/\(RPATH\)\s+Library rpath: \[(.*)\]/g)[0] ?? null,
    runpath: pick(/\(RUNPATH\)\s+Library runpath: \[(.*)\]/g)[0] ?? null,
    nodeflib: /\(FLAGS_1\)\s+Flags:.*\bNODEFLIB\b/.test(out),
  };
}

function ours(path: string): Reference {
  const elf = readElf(path);
  return {
    interp: elf.interp,
    needed: elf.dynamic?.needed ?? [],
    soname: elf.dynamic?.soname ?? null,
    rpath: elf.dynamic?.rpath ?? null,
    runpath: elf.dynamic?.runpath ?? null,
    nodeflib: ((elf.dynamic?.flags1 ?? 0) & DF_1_NODEFLIB) !== 0,
  };
}

function elfFilesIn(dir: string, limit: number): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st?.isFile() || st.size < 64) continue;
    const head = readFileSync(path).subarray(0, 4);
    if (head.toString("latin1") === "\x7fELF") files.push(path);
    if (files.length >= limit) break;
  }
  return files;
}

t.test("real files agree with readelf (x86-64 host and the arm64 root)", async (t) => {
  const dirs = ["/usr/bin", "/usr/lib/x86_64-linux-gnu"];
  try {
    dirs.push(join(fixture("MAGICPAK_ARM64_ROOT"), "usr/lib/aarch64-linux-gnu"), join(fixture("MAGICPAK_ARM64_ROOT"), "usr/bin"));
  } catch (error) {
    t.fail((error as Error).message);
  }
  for (const dir of dirs) {
    const files = elfFilesIn(dir, 150);
    t.ok(files.length > 20, `${files.length} ELF files in ${dir}`);
    let agree = 0;
    for (const file of files) {
      const a = ours(file);
      const b = readelf(file);
      if (JSON.stringify(a) === JSON.stringify(b)) agree++;
      else t.same(a, b, file);
    }
    t.equal(agree, files.length, `${dir}: all ${files.length} agree with readelf`);
  }
});

t.test("synthetic files of every class and byte order, without section headers, agree with readelf", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "magicpak-elf-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const machines = { 32: { true: 40, false: 20 }, 64: { true: 183, false: 22 } } as const; // arm, ppc, aarch64, s390
  for (const cls of [32, 64] as const) {
    for (const little of [true, false]) {
      const spec = {
        class: cls,
        little,
        machine: machines[cls][`${little}`],
        interp: "/lib/ld-test.so.1",
        needed: ["liba.so.1", "libb.so.2", "libc.so.6"],
        soname: "libself.so.3",
        rpath: "$ORIGIN/../lib:/opt/x",
        runpath: "/opt/run",
        flags1: DF_1_NODEFLIB,
        audit: "libaudit-mod.so",
      };
      const path = join(dir, `elf${cls}${little ? "le" : "be"}.so`);
      writeFileSync(path, buildElf(spec));
      t.same(ours(path), readelf(path), `ELF${cls} ${little ? "LSB" : "MSB"}`);
      const elf = readElf(path);
      t.equal(elf.header.class, cls === 64 ? 2 : 1);
      t.equal(elf.header.data, little ? 1 : 2);
      t.equal(elf.dynamic?.audit, "libaudit-mod.so", "DT_AUDIT read");
      t.same(elf.sections ?? [], [], "no section headers needed");
    }
  }
});

t.test("imported symbols match readelf's undefined dynamic symbols", async (t) => {
  for (const file of ["/usr/bin/ssh", "/usr/lib/x86_64-linux-gnu/libz.so.1"]) {
    const out = execFileSync("readelf", ["--dyn-syms", "-W", file], { encoding: "utf8", env: { LC_ALL: "C" } });
    const expected = [
      ...new Set(
        out
          .split("\n")
          .map((l) => l.trim().split(/\s+/))
          .filter((f) => f.length >= 8 && f[6] === "UND" && (f[4] === "GLOBAL" || f[4] === "WEAK"))
          .map((f) => f[7]!.replace(/@.*$/, "")),
      ),
    ].sort();
    const imports = [...new Set(readElf(file, { imports: true }).imports)].sort();
    t.same(imports, expected, file);
  }
});

t.test("malformed input gives ElfError naming the file, never anything else, never hangs", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "magicpak-elf-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = buildElf({ class: 64, little: true, machine: 62, interp: "/lib64/ld-linux-x86-64.so.2", needed: ["libx.so.1"], rpath: "/a" });
  const path = join(dir, "bad.so");
  const attempt = (bytes: Buffer): unknown => {
    writeFileSync(path, bytes);
    try {
      readElf(path, { sections: true, imports: true, dlopenNotes: true });
      return null;
    } catch (error) {
      return error;
    }
  };
  const started = Date.now();
  let nonElfErrors = 0;
  // Every truncation.
  for (let n = 0; n < good.length; n++) {
    const error = attempt(good.subarray(0, n));
    if (error !== null && !(error instanceof ElfError && error.path === path)) nonElfErrors++;
  }
  // Random byte mutations, reproducible.
  const random = prng(42);
  for (let i = 0; i < 3000; i++) {
    const bytes = Buffer.from(good);
    const flips = 1 + Math.floor(random() * 8);
    for (let k = 0; k < flips; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    const error = attempt(bytes);
    if (error !== null && !(error instanceof ElfError)) {
      nonElfErrors++;
      t.fail(`mutation ${i} threw ${(error as Error).stack}`);
    }
  }
  t.equal(nonElfErrors, 0, "only ElfError is thrown");
  t.ok(Date.now() - started < 30000, "all cases finish promptly");

  // Specific defects, with the defect named.
  const cases: [string, (b: Buffer) => Buffer, string][] = [
    ["empty file", () => Buffer.alloc(0), "not-elf"],
    ["text file", () => Buffer.from("INPUT(libfoo.so.1)\n".repeat(8)), "not-elf"],
    ["bad class", (b) => withByte(b, 4, 9), "bad-class"],
    ["bad data encoding", (b) => withByte(b, 5, 7), "bad-data-encoding"],
    ["absurd phnum", (b) => withU16(b, 56, 0xfffe), "too-large"],
    ["phentsize wrong", (b) => withU16(b, 54, 12), "bad-header-size"],
    ["phoff beyond the file", (b) => withU32(b, 32, 0x7fffff00), "truncated"],
  ];
  for (const [name, mutate, defect] of cases) {
    const error = attempt(mutate(Buffer.from(good)));
    t.ok(error instanceof ElfError, `${name}: ElfError`);
    t.equal((error as ElfError).defect, defect, `${name}: defect ${defect}`);
    t.match((error as ElfError).message, path, `${name}: message names the file`);
  }
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  const error = (() => {
    try {
      readElf(fifo);
      return null;
    } catch (e) {
      return e;
    }
  })();
  t.ok(error instanceof ElfError && /not a regular file/.test((error as Error).message), "a FIFO is refused without blocking");
});

function withByte(b: Buffer, offset: number, value: number): Buffer {
  b[offset] = value;
  return b;
}
function withU16(b: Buffer, offset: number, value: number): Buffer {
  b.writeUInt16LE(value, offset);
  return b;
}
function withU32(b: Buffer, offset: number, value: number): Buffer {
  b.writeUInt32LE(value, offset);
  return b;
}

t.test(".note.dlopen (FDO) entries are read from a note compiled by gcc", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "magicpak-note-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const payload = JSON.stringify([
    { feature: "compression", description: "zstd support", priority: "recommended", soname: ["libzstd.so.1"] },
    { feature: "idn", priority: "required", soname: ["libidn2.so.0", "libidn.so.12"] },
  ]);
  const literal = `"${payload.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}${"\\0".repeat(4 - (payload.length % 4))}"`;
  const source = `
#define DESC ${literal}
__attribute__((section(".note.dlopen"), used, aligned(4)))
static const struct { unsigned namesz, descsz, type; char name[4]; char desc[sizeof(DESC) - 1]; } note =
  { 4, sizeof(DESC) - 1, 0x407c0c0a, "FDO", DESC };
int f(void) { return 0; }
`;
  writeFileSync(join(dir, "n.c"), source);
  execFileSync("gcc", ["-shared", "-fPIC", "-o", join(dir, "libnote.so"), join(dir, "n.c")]);
  const notes = readElf(join(dir, "libnote.so"), { dlopenNotes: true }).dlopenNotes;
  t.same(notes, [
    { soname: ["libzstd.so.1"], feature: "compression", description: "zstd support", priority: "recommended" },
    { soname: ["libidn2.so.0", "libidn.so.12"], feature: "idn", description: null, priority: "required" },
  ]);
});
