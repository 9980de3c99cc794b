// What the target's own loader would use, read from the root without running anything.

import { readFileSync } from "node:fs";
import { hostAbi, type Abi } from "./machines.js";
import { parseLdSoCache, CacheFormatError, type LdSoCache } from "./ld-so-cache.js";
import type { RootFs } from "../fs/root.js";
import { ELFDATA2LSB, EM_386 } from "../elf/constants.js";
import { fsPath } from "../fs-name.js";

export type Flavour = "glibc" | "musl";

export interface GlibcConfig {
  flavour: "glibc";
  abi: Abi;
  /** The interpreter path (PT_INTERP, or the canonical one for a library listed on its own). */
  interpreter: string;
  /** Compiled-in trusted directories, each ending in "/" (SYSTEM_DIRS). */
  systemDirs: string[];
  systemDirsFrom: "ld.so" | "fallback";
  /** $LIB (DL_DST_LIB). */
  dstLib: string;
  /** glibc release of the target's ld.so, e.g. [2, 36]; null when unreadable. */
  version: [number, number] | null;
  cache: LdSoCache | null;
  /** Why the cache is not used, when it is not. */
  cacheProblem: string | null;
  /** Active glibc-hwcaps subdirectories, best first. */
  activeHwcaps: string[];
  /** $PLATFORM (AT_PLATFORM); null when unknown. */
  platform: string | null;
  /** Subdirectories probed inside each search directory, best first, ending with "" (the directory itself). */
  subdirs: string[];
  /** Names listed in /etc/ld.so.preload (rtld.c: separated by blanks, tabs, newlines and ':'; '#' comments). */
  preloadFile: string[];
}

export interface MuslConfig {
  flavour: "musl";
  abi: Abi;
  interpreter: string;
  /** The path file musl reads (<prefix>/etc/ld-musl-ARCH.path). */
  pathFile: string;
  /** Elements of the system path (from the path file, or musl's default). */
  systemPath: string;
  systemPathFrom: "path-file" | "default" | "unreadable-path-file";
}

export type LoaderConfig = GlibcConfig | MuslConfig;

export interface HostCpu {
  hwcaps: string[];
  platform: string | null;
  legacyHwcaps: string[];
}

export function flavourOfInterpreter(interp: string): Flavour | null {
  const base = interp.slice(interp.lastIndexOf("/") + 1);
  if (base.startsWith("ld-musl-")) return "musl";
  if (base.startsWith("ld-linux") || base.startsWith("ld64.so") || base === "ld.so.1" || base.startsWith("ld-2.")) return "glibc";
  return null;
}

/** SYSTEM_DIRS is stored verbatim in ld.so as NUL-separated absolute directories ending in "/". */
const SYSTEM_DIRS_PATTERN = /(?:\/[\x21-\x7e]*?\/\0){2,}/g;

function readSystemDirs(ldso: Buffer, abi: Abi): string[] | null {
  const text = ldso.toString("latin1");
  let best: string[] | null = null;
  for (const match of text.matchAll(SYSTEM_DIRS_PATTERN)) {
    const dirs = match[0].split("\0").filter((d) => d !== "");
    // The blob always contains a lib directory; prefer the one naming the multiarch triplet.
    if (!dirs.some((d) => /\/lib[^/]*\/$/.test(d) || d.includes(abi.triplet))) continue;
    if (!best || (dirs.some((d) => d.includes(abi.triplet)) && !best.some((d) => d.includes(abi.triplet)))) best = dirs;
  }
  return best;
}

function readGlibcVersion(ldso: Buffer): [number, number] | null {
  const m = /release version (\d+)\.(\d+)/.exec(ldso.toString("latin1"));
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** DL_DST_LIB: Debian patches it to "lib/<triplet>"; upstream it is notdir(slibdir). */
function readDstLib(ldso: Buffer, systemDirs: string[], abi: Abi): string {
  const multiarch = `lib/${abi.triplet}`;
  if (ldso.includes(Buffer.from(`\0${multiarch}\0`, "latin1"))) return multiarch;
  const slibdir = (systemDirs[0] ?? abi.defaultLibDir + "/").replace(/\/+$/, "");
  return slibdir.slice(slibdir.lastIndexOf("/") + 1) || "lib";
}

function fallbackSystemDirs(root: RootFs, abi: Abi): string[] {
  const multiarch = [`/lib/${abi.triplet}/`, `/usr/lib/${abi.triplet}/`, "/lib/", "/usr/lib/"];
  if (root.listDirectory(`/usr/lib/${abi.triplet}`) !== null || root.listDirectory(`/lib/${abi.triplet}`) !== null) return multiarch;
  return [`${abi.defaultLibDir}/`, `/usr${abi.defaultLibDir}/`];
}

/**
 * The legacy (glibc <= 2.36) subdirectories: every combination of "tls", the platform and the
 * hwcap names, longest first (_dl_important_hwcaps of 2.36).
 */
function legacySubdirs(platforms: string[], hwcapNames: string[]): string[] {
  const parts = [...hwcapNames, ...platforms];
  const combos: string[] = [];
  for (const tls of [true, false]) {
    for (let mask = (1 << parts.length) - 1; mask >= 0; mask--) {
      const chosen = parts.filter((_, i) => mask & (1 << (parts.length - 1 - i)));
      const dir = [...(tls ? ["tls"] : []), ...chosen].join("/");
      if (dir !== "") combos.push(`${dir}/`);
    }
  }
  return [...new Set(combos)];
}

export interface ConfigOptions {
  /** CPU facts of the machine that will run the target; null = unknown (foreign or unspecified). */
  cpu: HostCpu | null;
}

/**
 * The largest /etc/ld.so.cache magicpak reads: 64 MiB. glibc maps the whole file (dl-cache.c
 * _dl_load_cache_lookup via _dl_sysdep_read_whole_file) with no bound of its own; real caches are
 * tens to hundreds of KiB (one entry per library, about 50 bytes with its strings), so 64 MiB is
 * over a million libraries. A larger one is refused with its path named rather than read whole.
 * /etc/ld.so.preload, also read whole by glibc (rtld.c), is bounded by DEFAULT_READ_LIMIT (1 MiB).
 */
export const LD_SO_CACHE_LIMIT = 64 << 20;

export function glibcConfig(root: RootFs, abi: Abi, interpreter: string, options: ConfigOptions): GlibcConfig {
  const ldsoPath = root.tryResolve(interpreter);
  let ldso: Buffer | null = null;
  if (ldsoPath && ldsoPath.stats.isFile() && ldsoPath.stats.size < 16 * 1024 * 1024) {
    try {
      ldso = readFileSync(fsPath(ldsoPath.hostPath));
    } catch {
      ldso = null;
    }
  }
  const fromLdso = ldso ? readSystemDirs(ldso, abi) : null;
  const systemDirs = fromLdso ?? fallbackSystemDirs(root, abi);
  const version = ldso ? readGlibcVersion(ldso) : null;
  const dstLib = ldso ? readDstLib(ldso, systemDirs, abi) : `lib/${abi.triplet}`;
  let cache: LdSoCache | null = null;
  let cacheProblem: string | null = null;
  const cacheBytes = root.readFile("/etc/ld.so.cache", LD_SO_CACHE_LIMIT);
  if (cacheBytes === null) {
    cacheProblem = "/etc/ld.so.cache: No such file";
  } else {
    try {
      cache = parseLdSoCache("/etc/ld.so.cache", cacheBytes, {
        littleEndian: abi.data === ELFDATA2LSB,
        newHeaderAlignment: abi.machine === EM_386 ? 4 : 8,
      });
    } catch (error) {
      if (!(error instanceof CacheFormatError)) throw error;
      cacheProblem = error.message;
    }
  }
  const cpu = options.cpu;
  const activeHwcaps = cpu ? cpu.hwcaps.filter((h) => abi.hwcaps.includes(h)) : [];
  const platform = cpu?.platform ?? abi.legacyPlatforms[abi.legacyPlatforms.length - 1] ?? null;
  const legacy = version !== null && (version[0] > 2 || version[1] >= 37) ? [] : legacySubdirs(platform ? [platform] : [], cpu ? cpu.legacyHwcaps : abi.legacyHwcaps.slice(0, 1));
  return {
    flavour: "glibc",
    abi,
    interpreter,
    systemDirs,
    systemDirsFrom: fromLdso ? "ld.so" : "fallback",
    dstLib,
    version,
    cache,
    cacheProblem,
    activeHwcaps,
    platform,
    subdirs: [...activeHwcaps.map((h) => `glibc-hwcaps/${h}/`), ...legacy, ""],
    preloadFile: (root.readFile("/etc/ld.so.preload")?.toString("utf8") ?? "")
      .replace(/#[^\n]*/g, "")
      .split(/[ \t\n:]/)
      .filter((n) => n !== ""),
  };
}

export function muslConfig(root: RootFs, abi: Abi, interpreter: string): MuslConfig {
  // prefix = the interpreter path without its last two components (musl's load_library).
  let prefix = "";
  if (interpreter.startsWith("/")) {
    const last = interpreter.lastIndexOf("/");
    const cut = interpreter.lastIndexOf("/", last - 1);
    prefix = cut >= 0 && cut < last ? interpreter.slice(0, cut) : "";
  }
  const pathFile = `${prefix}/etc/ld-musl-${abi.muslArch}.path`;
  const resolved = root.tryResolve(pathFile);
  if (!resolved) return { flavour: "musl", abi, interpreter, pathFile, systemPath: "/lib:/usr/local/lib:/usr/lib", systemPathFrom: "default" };
  const content = root.readFile(pathFile);
  if (content === null) return { flavour: "musl", abi, interpreter, pathFile, systemPath: "", systemPathFrom: "unreadable-path-file" };
  // musl reads the file with getdelim(..., 0, f) and uses it as a C string: it ends at the first NUL.
  const nul = content.indexOf(0);
  return { flavour: "musl", abi, interpreter, pathFile, systemPath: content.toString("utf8", 0, nul < 0 ? content.length : nul), systemPathFrom: "path-file" };
}

/**
 * The directories of a musl path list: the content of <prefix>/etc/ld-musl-ARCH.path, and also
 * LD_LIBRARY_PATH and RPATH/RUNPATH (ldso/dynlink.c path_open): elements are separated by ':' or
 * '\n', and empty elements are skipped.
 */
export function parseMuslPath(text: string): string[] {
  return text.split(/[:\n]/).filter((dir) => dir !== "");
}

/** The running machine's CPU as glibc would classify it (sysdeps/x86/cpu-features.c, dl-hwcaps-subdirs.c). */
export function detectHostCpu(): HostCpu | null {
  const host = hostAbi()?.name;
  if (host !== "amd64") return host === "arm64" ? { hwcaps: [], platform: "aarch64", legacyHwcaps: [] } : null;
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return null;
  }
  const flagsLine = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "";
  const flags = new Set(flagsLine.split(/\s+/));
  // LZCNT is cpuinfo's "abm", which some hypervisors' guests do not list although CPUID has it (the
  // loader then uses x86-64-v3); no CPU has BMI2 without LZCNT, so BMI2 stands for it there.
  if (flags.has("bmi2")) flags.add("abm");
  const has = (...names: string[]) => names.every((n) => flags.has(n));
  const v2 = has("cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3");
  const v3 = v2 && has("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave");
  const v4 = v3 && has("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl");
  const hwcaps = [...(v4 ? ["x86-64-v4"] : []), ...(v3 ? ["x86-64-v3"] : []), ...(v2 ? ["x86-64-v2"] : [])];
  const intel = /GenuineIntel/.test(cpuinfo);
  let platform = "x86_64";
  const legacyHwcaps = ["x86_64"];
  if (intel) {
    if (has("avx512cd") && has("avx512er", "avx512pf")) platform = "xeon_phi";
    else if (has("avx512cd", "avx512bw", "avx512dq", "avx512vl")) legacyHwcaps.push("avx512_1");
    if (platform === "x86_64" && has("avx2", "fma", "bmi1", "bmi2", "abm", "movbe", "popcnt")) platform = "haswell";
  }
  return { hwcaps, platform, legacyHwcaps };
}
