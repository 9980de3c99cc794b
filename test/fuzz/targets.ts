// The fuzz targets: the four parsers of untrusted input, each run as the library runs it, with
// seeds from the machine. A target returns normally for a result or for one of the project's
// typed errors; anything else thrown (or a result that breaks an invariant) is a finding.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, closeSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ElfError } from "../../lib/elf/errors.js";
import { readElf, readHeader } from "../../lib/elf/file.js";
import { RootFs } from "../../lib/fs/root.js";
import { CacheFormatError, lookupCache, parseLdSoCache } from "../../lib/loader/ld-so-cache.js";
import { LdSoConfError, parseLdSoConf } from "../../lib/loader/ld-so-conf.js";
import { muslConfig, parseMuslPath } from "../../lib/loader/config.js";
import { abiByName } from "../../lib/loader/machines.js";
import { buildElf } from "../support/elf-builder.js";
import { cacheDir, fixture } from "../support/fixtures.js";
import type { Target } from "./engine.js";

/** Temporary directories of this process, removed by cleanupTargets. */
const scratch: string[] = [];
let scratchParent = tmpdir();

/** Where the targets make their scratch directories (the fuzzer's own, removed even when a worker is killed). */
export function setScratchParent(dir: string): void {
  scratchParent = dir;
}

function scratchDir(name: string): string {
  const dir = mkdtempSync(join(scratchParent, `magicpak-fuzz-${name}-`));
  scratch.push(dir);
  return dir;
}

export function cleanupTargets(): void {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The arm64 root of the test fixtures, or null when it is not provisioned (seeds are best effort). */
function arm64Root(): string | null {
  try {
    return fixture("MAGICPAK_ARM64_ROOT");
  } catch {
    return null;
  }
}

function readHead(path: string, limit: number): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null;
  }
  try {
    const buffer = Buffer.alloc(limit);
    const n = readSync(fd, buffer, 0, limit, 0);
    return buffer.subarray(0, n);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Regular files of a directory, sorted by name. */
function regularFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.map((n) => join(dir, n)).filter((p) => lstatSync(p, { throwIfNoEntry: false })?.isFile() === true);
}

/** Up to `count` items spread evenly over a list. */
function spread<T>(items: T[], count: number): T[] {
  if (items.length <= count) return items;
  return Array.from({ length: count }, (_, i) => items[Math.floor((i * items.length) / count)]!);
}

const ELF_SEED_BYTES = 16 * 1024;

/** ELF files of the machine and of the arm64 root: small ones whole, others truncated to their first 16 KiB. */
function elfSeeds(): Buffer[] {
  const arm64 = arm64Root();
  const dirs = ["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"];
  if (arm64) dirs.push(join(arm64, "usr/bin"), join(arm64, "usr/lib/aarch64-linux-gnu"));
  const seeds: Buffer[] = [];
  for (const dir of dirs) {
    const elves = regularFiles(dir).filter((p) => readHead(p, 4)?.equals(Buffer.from("\x7fELF", "latin1")));
    const small = elves.filter((p) => lstatSync(p).size <= ELF_SEED_BYTES);
    const large = elves.filter((p) => lstatSync(p).size > ELF_SEED_BYTES);
    for (const p of [...spread(small, 6), ...spread(large, 6)]) seeds.push(readHead(p, ELF_SEED_BYTES)!);
  }
  // Layouts the machine has none of: 32-bit and big-endian objects with every string tag.
  for (const cls of [32, 64] as const) {
    for (const little of [true, false]) {
      seeds.push(
        buildElf({
          class: cls,
          little,
          machine: little ? 62 : 22,
          interp: "/lib/ld.so.1",
          needed: ["libc.so.6", "libm.so.6"],
          soname: "libx.so.1",
          rpath: "$ORIGIN/../lib",
          runpath: "/opt/lib:/usr/lib",
          flags1: 0x800,
          audit: "libaudit.so",
        }),
      );
    }
  }
  seeds.push(noteElf());
  return seeds;
}

/**
 * An ELF64 shared object with what the reader's options look at and the machine's files rarely
 * have: an FDO .note.dlopen, a DT_HASH symbol table with undefined symbols, section headers.
 */
function noteElf(): Buffer {
  const b = Buffer.alloc(0x400);
  const base = 0x10000;
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  b.writeUInt16LE(3, 16); // ET_DYN
  b.writeUInt16LE(62, 18);
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(0x40n, 32); // phoff
  b.writeBigUInt64LE(0x300n, 40); // shoff
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(3, 56); // phnum
  b.writeUInt16LE(64, 58);
  b.writeUInt16LE(3, 60); // shnum
  b.writeUInt16LE(2, 62); // shstrndx
  const phdr = (i: number, type: number, offset: number, size: number, align: number) => {
    const o = 0x40 + i * 56;
    b.writeUInt32LE(type, o);
    b.writeUInt32LE(4, o + 4);
    b.writeBigUInt64LE(BigInt(offset), o + 8);
    b.writeBigUInt64LE(BigInt(base + offset), o + 16);
    b.writeBigUInt64LE(BigInt(base + offset), o + 24);
    b.writeBigUInt64LE(BigInt(size), o + 32);
    b.writeBigUInt64LE(BigInt(size), o + 40);
    b.writeBigUInt64LE(BigInt(align), o + 48);
  };
  // Note at 0x100: namesz 4 ("FDO\0"), descsz, type, JSON.
  const json = Buffer.from('[{"soname":["libz.so.1","libz.so"],"feature":"z","description":"zlib","priority":"required"}]\0');
  b.writeUInt32LE(4, 0x100);
  b.writeUInt32LE(json.length, 0x104);
  b.writeUInt32LE(0x407c0c0a, 0x108);
  b.write("FDO\0", 0x10c, "latin1");
  json.copy(b, 0x110);
  const noteSize = 16 + Math.ceil(json.length / 4) * 4;
  // Strings at 0x200, symbols at 0x240, hash at 0x2a0, dynamic at 0x2c0.
  const strings = Buffer.from("\0libc.so.6\0malloc\0free\0");
  strings.copy(b, 0x200);
  const sym = (i: number, name: number) => {
    const o = 0x240 + i * 24;
    b.writeUInt32LE(name, o);
    b[o + 4] = 0x12; // STB_GLOBAL, STT_FUNC
    b.writeUInt16LE(0, o + 6); // SHN_UNDEF
  };
  sym(1, 11);
  sym(2, 18);
  b.writeUInt32LE(1, 0x2a0); // nbucket
  b.writeUInt32LE(3, 0x2a4); // nchain
  const dyn = [
    [1, 1],
    [4, base + 0x2a0],
    [5, base + 0x200],
    [6, base + 0x240],
    [10, strings.length],
    [11, 24],
    [0, 0],
  ];
  dyn.forEach(([tag, value], i) => {
    b.writeBigUInt64LE(BigInt(tag!), 0x2c0 + i * 16);
    b.writeBigUInt64LE(BigInt(value!), 0x2c8 + i * 16);
  });
  phdr(0, 1, 0, b.length, 0x1000);
  phdr(1, 4, 0x100, noteSize, 4);
  phdr(2, 2, 0x2c0, dyn.length * 16, 8);
  // Sections: null, .note (SHT_NOTE), .shstrtab.
  const shstr = Buffer.from("\0.note\0.shstrtab\0");
  shstr.copy(b, 0x3c0);
  const shdr = (i: number, name: number, type: number, offset: number, size: number) => {
    const o = 0x300 + i * 64;
    b.writeUInt32LE(name, o);
    b.writeUInt32LE(type, o + 4);
    b.writeBigUInt64LE(BigInt(offset), o + 24);
    b.writeBigUInt64LE(BigInt(size), o + 32);
    b.writeBigUInt64LE(4n, o + 48);
  };
  shdr(1, 1, 7, 0x100, noteSize);
  shdr(2, 7, 3, 0x3c0, shstr.length);
  return b;
}

const READ_ALL = { sections: true, imports: true, dlopenNotes: true };

/** readElf and readHeader on a file holding the input. */
function elfTarget(): Target {
  let file: string | null = null;
  return {
    name: "elf",
    maxLength: 20 * 1024,
    dictionary: ["\x7fELF", "\x7fELF\x02\x01\x01", "\x7fELF\x01\x02\x01", "FDO\0", "GNU\0", '[{"soname":["a"]}]', '"priority":"suggested"', "$ORIGIN", "\0\0\0\0\0\0\0\0"].map((w) =>
      Buffer.from(w, "latin1"),
    ),
    seeds: elfSeeds,
    run(input) {
      file ??= join(scratchDir("elf"), "input");
      writeFileSync(file, input);
      for (const read of [() => readElf(file!, READ_ALL), () => readHeader(file!)]) {
        try {
          read();
        } catch (error) {
          if (!(error instanceof ElfError)) throw error;
          // readElf wraps its own bugs as ElfError so that they never escape untyped: still a bug.
          if (error.detail.startsWith("internal reader error")) throw new Error(`a bug inside readElf: ${error.message}`);
        }
      }
    },
  };
}

/** Caches written by ldconfig in each format for a tiny root (when ldconfig is at hand), to seed the old layouts. */
function ldconfigCaches(): Buffer[] {
  if (!existsSync("/sbin/ldconfig")) return [];
  const root = scratchDir("cache-seed");
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "usr/lib"), { recursive: true });
  writeFileSync(join(root, "etc/ld.so.conf"), "/usr/lib\n");
  for (const [i, name] of ["liba.so.1", "libb.so.2", "libc.so.6"].entries()) {
    writeFileSync(join(root, "usr/lib", name), buildElf({ class: 64, little: true, machine: 62, soname: name, needed: i ? ["liba.so.1"] : [] }));
  }
  // glibc-hwcaps variants: the new format's hwcaps extension and entries with bit 62.
  for (const level of ["x86-64-v2", "x86-64-v3"]) {
    mkdirSync(join(root, "usr/lib/glibc-hwcaps", level), { recursive: true });
    writeFileSync(join(root, "usr/lib/glibc-hwcaps", level, "liba.so.1"), buildElf({ class: 64, little: true, machine: 62, soname: "liba.so.1" }));
  }
  const caches: Buffer[] = [];
  for (const format of ["old", "compat", "new"]) {
    try {
      execFileSync("/sbin/ldconfig", ["-r", root, "-X", "-c", format, "-C", `/etc/${format}.cache`], { stdio: "ignore" });
      caches.push(readFileSync(join(root, "etc", `${format}.cache`)));
    } catch {
      // Seeds are best effort.
    }
  }
  return caches;
}

/** The same cache written big-endian, as ldconfig on a big-endian machine would. */
function bigEndianCache(le: Buffer): Buffer | null {
  const be = Buffer.from(le);
  const swap32 = (o: number) => o + 4 <= be.length && be.writeUInt32BE(le.readUInt32LE(o), o);
  const swap64 = (o: number) => o + 8 <= be.length && be.writeBigUInt64BE(le.readBigUInt64LE(o), o);
  if (le.toString("latin1", 0, 11) === "ld.so-1.7.0" && le.length >= 16) {
    const old = le.readUInt32LE(12);
    swap32(12);
    for (let i = 0; i < old && 16 + (i + 1) * 12 <= le.length; i++) for (const f of [0, 4, 8]) swap32(16 + i * 12 + f);
  }
  const start = le.indexOf("glibc-ld.so.cache1.1");
  if (start < 0 || start + 48 > le.length) return be;
  const nlibs = le.readUInt32LE(start + 20);
  for (const o of [20, 24, 32, 36]) swap32(start + o);
  be[start + 28] = (be[start + 28]! & ~3) | 3;
  for (let i = 0; i < nlibs && start + 48 + (i + 1) * 24 <= le.length; i++) {
    const o = start + 48 + i * 24;
    for (const f of [0, 4, 8, 12]) swap32(o + f);
    swap64(o + 16);
  }
  const ext = le.readUInt32LE(start + 32);
  if (ext !== 0 && ext + 8 <= le.length && le.readUInt32LE(ext) === 0xeaa42174) {
    const count = le.readUInt32LE(ext + 4);
    swap32(ext);
    swap32(ext + 4);
    for (let i = 0; i < count && ext + 8 + (i + 1) * 16 <= le.length; i++) {
      const o = ext + 8 + i * 16;
      const tag = le.readUInt32LE(o);
      const offset = le.readUInt32LE(o + 8);
      const size = le.readUInt32LE(o + 12);
      for (const f of [0, 4, 8, 12]) swap32(o + f);
      if (tag === 1) for (let j = 0; j + 4 <= size; j += 4) swap32(offset + j);
    }
  }
  return be;
}

function cacheSeeds(): Buffer[] {
  const seeds: Buffer[] = [];
  const arm64 = arm64Root();
  for (const path of ["/etc/ld.so.cache", ...(arm64 ? [join(arm64, "etc/ld.so.cache")] : [])]) {
    if (existsSync(path)) seeds.push(readFileSync(path));
  }
  seeds.push(...ldconfigCaches());
  for (const seed of [...seeds]) {
    const be = bigEndianCache(seed);
    if (be) seeds.push(be);
  }
  return seeds;
}

const HWCAPS = ["x86-64-v4", "x86-64-v3", "x86-64-v2"];

/** parseLdSoCache for both byte orders (and i386's 4-byte alignment), then lookups in what it read. */
function cacheTarget(): Target {
  return {
    name: "ld.so.cache",
    maxLength: 64 * 1024,
    dictionary: ["ld.so-1.7.0", "glibc-ld.so.cache1.1", "\x74\x21\xa4\xea", "\xea\xa4\x21\x74", "libc.so.6\0", "x86-64-v3\0", "ldconfig (GNU libc)"].map((w) => Buffer.from(w, "latin1")),
    seeds: cacheSeeds,
    run(input) {
      for (const options of [{ littleEndian: true }, { littleEndian: false }, { littleEndian: true, newHeaderAlignment: 4 }]) {
        let cache;
        try {
          cache = parseLdSoCache("/etc/ld.so.cache", input, options);
        } catch (error) {
          if (!(error instanceof CacheFormatError)) throw error;
          continue;
        }
        const entries = cache.entries;
        const names = ["libc.so.6", "libnothere.so.1", ...[0, entries.length >> 1, entries.length - 1].map((i) => entries[i]?.key ?? "")];
        const flags = [...new Set(entries.slice(0, 4).map((e) => e.flags)), 0x0303];
        for (const name of names) lookupCache(cache, name, flags, HWCAPS);
      }
    },
  };
}

/** Splits a conf input into the root's /etc/ld.so.conf and the file it may include. */
const CONF_SEPARATOR = "\n%%\n";

function confSeeds(): Buffer[] {
  const texts: string[] = [];
  const arm64 = arm64Root();
  for (const root of ["/", ...(arm64 ? [arm64] : [])]) {
    const main = join(root, "etc/ld.so.conf");
    if (existsSync(main)) texts.push(readFileSync(main, "latin1"));
    for (const file of regularFiles(join(root, "etc/ld.so.conf.d"))) texts.push(`include /etc/ld.so.conf.d/*.conf${CONF_SEPARATOR}${readFileSync(file, "latin1")}`);
  }
  texts.push(
    `# comment\n  /usr/lib  # trailing\ninclude ld.so.conf.d/*.conf /etc/ld.so.conf.d/[a-f]*.conf\nhwcap 1 x\nHWCAP 0 y\n/opt/lib=libc6\n/lib///\n/usr/lib\\x${CONF_SEPARATOR}/opt/lib\ninclude sub/*\ninclude ../ld.so.conf.d/other.conf\n`,
    `include\t/etc/ld.so.conf.d/*.conf\t\t/etc/ld.so.conf.d/.*\n/lib/x86_64-linux-gnu\n${CONF_SEPARATOR}/usr/local/lib\n\0ignored\n\r\n`,
  );
  return texts.map((t) => Buffer.from(t, "latin1"));
}

/** The scratch root of the ld.so.conf target: a few directories, links and configuration files to include. */
export function makeConfRoot(): string {
  const root = scratchDir("conf");
  mkdirSync(join(root, "etc/ld.so.conf.d/sub"), { recursive: true });
  mkdirSync(join(root, "usr/lib"), { recursive: true });
  mkdirSync(join(root, "opt/lib"), { recursive: true });
  symlinkSync("usr/lib", join(root, "lib"));
  symlinkSync("../../..", join(root, "etc/ld.so.conf.d/up"));
  writeFileSync(join(root, "etc/ld.so.conf.d/other.conf"), "/opt/lib\n");
  writeFileSync(join(root, "etc/ld.so.conf.d/sub/nested.conf"), "/usr/lib\ninclude ../other.conf\n");
  // Names a pattern may match that cannot be read: a dangling link, a link loop, a directory.
  symlinkSync("/nowhere", join(root, "etc/ld.so.conf.d/dangling.conf"));
  symlinkSync("loop.conf", join(root, "etc/ld.so.conf.d/loop.conf"));
  mkdirSync(join(root, "etc/ld.so.conf.d/dir.conf"));
  return root;
}

/** Writes a conf input into a root from makeConfRoot: /etc/ld.so.conf, and after CONF_SEPARATOR /etc/ld.so.conf.d/fuzz.conf. */
export function writeConfInput(root: string, input: Buffer): void {
  const cut = input.toString("latin1").indexOf(CONF_SEPARATOR);
  writeFileSync(join(root, "etc/ld.so.conf"), cut < 0 ? input : input.subarray(0, cut));
  writeFileSync(join(root, "etc/ld.so.conf.d/fuzz.conf"), cut < 0 ? Buffer.alloc(0) : input.subarray(cut + CONF_SEPARATOR.length));
}

/** parseLdSoConf on a scratch root whose /etc/ld.so.conf and /etc/ld.so.conf.d/fuzz.conf come from the input. */
function confTarget(): Target {
  let root: string | null = null;
  return {
    name: "ld.so.conf",
    maxLength: 4096,
    dictionary: [
      "include ",
      "include\t",
      "hwcap ",
      "#",
      "/",
      "*",
      "?",
      "[",
      "]",
      "[!",
      "[^",
      "[:alpha:]",
      "[:digit:]",
      "[:space:]",
      "[:upper:]",
      "[:lower:]",
      "[:punct:]",
      "[:xdigit:]",
      "[:alnum:]",
      "[:print:]",
      "[:graph:]",
      "[:cntrl:]",
      "[:blank:]",
      "-",
      "\\",
      "=libc6",
      "=",
      "..",
      "./",
      "/etc/ld.so.conf.d/",
      "*.conf",
      "fuzz.conf",
      "/etc/ld.so.conf",
      "sub/",
      CONF_SEPARATOR,
      "\0",
      "\r",
      "\t",
      "//",
    ].map((w) => Buffer.from(w, "latin1")),
    seeds: confSeeds,
    run(input) {
      root ??= makeConfRoot();
      writeConfInput(root, input);
      let conf;
      try {
        conf = parseLdSoConf(new RootFs(root));
      } catch (error) {
        if (!(error instanceof LdSoConfError)) throw error;
        if (error.problem.startsWith("internal error")) throw new Error(`a bug inside parseLdSoConf: ${error.message}`);
        return;
      }
      for (const dir of conf.directories) {
        // Whitespace before trailing slashes stays, as in add_dir_1 (whitespace is trimmed first).
        if (dir.path === "" || dir.path.endsWith("/") || /[#\0\n]/.test(dir.path)) {
          throw new Error(`directory ${JSON.stringify(dir.path)} (${dir.file}:${dir.line}) is not as ldconfig keeps one`);
        }
      }
    },
  };
}

function muslSeeds(): Buffer[] {
  const seeds = ["/lib:/usr/local/lib:/usr/lib", "/lib\n/usr/lib\n", "::/a:\n\n/b::", "$ORIGIN/../lib:/opt/lib"];
  for (const root of [join(cacheDir(), "host"), "/"]) {
    for (const file of regularFiles(join(root, "etc")).filter((p) => /ld-musl-.*\.path$/.test(p))) seeds.push(readFileSync(file, "latin1"));
  }
  return seeds.map((s) => Buffer.from(s, "latin1"));
}

/** parseMuslPath on the input, and muslConfig reading it as a root's path file. */
function muslTarget(): Target {
  let root: string | null = null;
  const abi = abiByName("amd64")!;
  return {
    name: "musl-path",
    maxLength: 1024,
    dictionary: [":", "\n", "/lib", "/usr/lib", "::", "\0", "$ORIGIN"].map((w) => Buffer.from(w, "latin1")),
    seeds: muslSeeds,
    run(input) {
      const text = input.toString("utf8");
      const dirs = parseMuslPath(text);
      if (dirs.some((d) => d === "" || d.includes(":") || d.includes("\n"))) throw new Error(`parseMuslPath gave an element that is empty or holds a separator: ${JSON.stringify(dirs)}`);
      if (dirs.join("") !== text.replace(/[:\n]/g, "")) throw new Error("parseMuslPath lost or invented characters");
      if (root === null) {
        root = scratchDir("musl");
        mkdirSync(join(root, "etc"), { recursive: true });
      }
      writeFileSync(join(root, "etc/ld-musl-x86_64.path"), input);
      const config = muslConfig(new RootFs(root), abi, "/lib/ld-musl-x86_64.so.1");
      if (config.systemPathFrom !== "path-file") throw new Error(`muslConfig did not read the path file: ${config.systemPathFrom}`);
      // musl reads the file with getdelim(..., 0, f) and uses it as a C string: it ends at the first NUL.
      if (config.systemPath.includes("\0")) throw new Error(`muslConfig kept a NUL in the system path: ${JSON.stringify(config.systemPath)}`);
      parseMuslPath(config.systemPath);
    },
  };
}

export const TARGETS: Record<string, () => Target> = {
  elf: elfTarget,
  "ld.so.cache": cacheTarget,
  "ld.so.conf": confTarget,
  "musl-path": muslTarget,
  cli: cliTarget,
};

/**
 * The command line on a hostile root (issue #13): argument vectors from the real option set (and
 * raw mutated words), against a small root with symlink loops, links that try to leave it, a huge
 * sparse file, a truncated ELF and names with control characters. Each input runs the real CLI
 * (a child process, so a hang or a crash is caught). A finding: an "internal error", a stack trace,
 * a crash, an exit status other than 0, 1 or 2, more than one line on stderr for exit 1, or a write
 * anywhere but the OUTPUT and image paths it was given. --test, --dynamic and --compress are left
 * out (they need a jail, a tracer or UPX and are covered by their own tests).
 */
function cliTarget(): Target {
  const dir = scratchDir("cli");
  const root = join(dir, "root");
  const libdir = "usr/lib/x86_64-linux-gnu";
  mkdirSync(join(root, libdir), { recursive: true });
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  mkdirSync(join(root, "usr/lib64"), { recursive: true });
  mkdirSync(join(root, "etc"), { recursive: true });
  for (const name of ["ld-linux-x86-64.so.2", "libc.so.6"]) writeFileSync(join(root, libdir, name), readFileSync(`/usr/lib/x86_64-linux-gnu/${name}`));
  symlinkSync("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", join(root, "usr/lib64/ld-linux-x86-64.so.2"));
  symlinkSync("usr/lib64", join(root, "lib64"));
  symlinkSync("usr/bin", join(root, "bin"));
  writeFileSync(join(root, "usr/bin/true"), readFileSync("/usr/bin/true"), { mode: 0o755 });
  writeFileSync(join(root, "usr/bin/bad"), readFileSync("/usr/bin/true").subarray(0, 300), { mode: 0o755 });
  symlinkSync("loop-b", join(root, "loop-a"));
  symlinkSync("loop-a", join(root, "loop-b"));
  symlinkSync("../../../../../../etc/passwd", join(root, "escape"));
  symlinkSync("/etc/shadow", join(root, "absolute"));
  symlinkSync("/proc/self/root/etc", join(root, "proc-escape"));
  // A huge sparse file, reachable only by name (no "/" or "/**" in the vocabulary: copying it per
  // input would cost the machine more than the fuzzing finds).
  mkdirSync(join(root, "var"));
  writeFileSync(join(root, "var/huge"), "");
  execFileSync("truncate", ["-s", "70M", join(root, "var/huge")]);
  writeFileSync(join(root, "etc/name\nerror: forged"), "x");
  writeFileSync(join(root, "etc/ld.so.preload"), "/nonexistent.so\n\x1b[31m\n");
  const work = join(dir, "work");
  mkdirSync(work);
  const vocabulary = [
    "/usr/bin/true",
    "/usr/bin/bad",
    "/loop-a",
    "/escape",
    "/absolute",
    "/proc-escape",
    "/var/huge",
    "/etc",
    "/etc/*",
    "/usr/lib/**",
    "/proc/cpuinfo",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "",
    "--include",
    "-i",
    "--exclude",
    "-e",
    "--mkdir",
    "--install-to",
    "-r",
    "--log-level",
    "Debug",
    "--list",
    "--tree",
    "--json",
    "--library-path",
    "--preload",
    "--cwd",
    "--no-nss",
    "--passwd",
    "--tmp",
    "--ca-certificates",
    "--tzdata",
    "--gconv",
    "--dlopen-notes",
    "all",
    "--oci",
    "--oci-archive",
    "--docker-archive",
    "--cmd",
    "--env",
    "A=1",
    "--workdir",
    "--user",
    "--label",
    "k=v",
    "--tag",
    "x:y",
    "--root",
    "/nonexistent",
    "--resolver",
    "native",
    "-v",
    "-V",
    "--",
    "/proc/self/x.tar",
    "/loop-b",
    "..",
    "/usr/lib/x86_64-linux-gnu",
  ];
  const forbidden = /^--(test|dynamic|compress|upx|busybox|emulator|tracer|cc)/;
  const written = ["out", "oci", "archive.tar", "docker.tar"];
  return {
    name: "cli",
    seeds: () => [
      Buffer.from("#0"),
      Buffer.from("#0\n#13\n#3"),
      Buffer.from("#1"),
      Buffer.from("#0\n#13\n#9\n#36\n#56"),
      Buffer.from("#24\n#0"),
      Buffer.from("#0\n#13\n#6"),
      Buffer.from("#0\n#37\n#56"),
    ],
    dictionary: vocabulary.map((_, i) => Buffer.from(`\n#${i}`)),
    maxLength: 200,
    run(input: Buffer) {
      rmSync(work, { recursive: true, force: true });
      mkdirSync(work);
      const args: string[] = [];
      for (const token of input.toString("latin1").split("\n").slice(0, 12)) {
        const word = /^#\d+$/.test(token) ? vocabulary[Number(token.slice(1)) % vocabulary.length]! : token;
        if (word.includes("\0") || forbidden.test(word) || (/^-[^-]/.test(word) && !["-i", "-e", "-r", "-v", "-V"].includes(word))) continue;
        // Image destinations always point into the work directory.
        args.push(word === "/proc/self/x.tar" || !/^--(oci|oci-archive|docker-archive)$/.test(args[args.length - 1] ?? "") ? word : join(work, written[1 + (args.length % 3)]!));
      }
      const argv = [...args, "--root", root, join(work, "out")];
      const before = readdirSync(root, { recursive: true }).length;
      const r = spawnSync(process.execPath, [cliBin, ...argv], { encoding: "utf8", timeout: 30_000, env: { PATH: "/usr/bin:/bin" } });
      const shown = JSON.stringify(argv);
      if (r.error || r.signal) throw new Error(`${shown}: ${r.error?.message ?? r.signal} (hang or crash)`);
      if (/internal error|\n\s+at |^\s+at /m.test(r.stderr)) throw new Error(`${shown}: ${r.stderr.slice(0, 400)}`);
      if (![0, 1, 2].includes(r.status ?? -1)) throw new Error(`${shown}: exit ${r.status}`);
      if (r.status === 1 && !args.some((a) => a === "--list" || a === "--tree" || a === "--json")) {
        const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
        if (errors.length !== 1) throw new Error(`${shown}: ${errors.length} error lines: ${r.stderr.slice(0, 400)}`);
      }
      const left = readdirSync(work).filter((n) => !written.includes(n));
      if (left.length > 0) throw new Error(`${shown}: wrote outside OUTPUT: ${left.join(", ")}`);
      if (readdirSync(root, { recursive: true }).length !== before) throw new Error(`${shown}: the root changed`);
      if (r.status !== 0 && existsSync(join(work, "out"))) throw new Error(`${shown}: exit ${r.status} but OUTPUT written`);
    },
  };
}

const cliBin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
