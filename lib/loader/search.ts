// The library search of the two Linux loaders, each as one function in the order the loader
// itself follows. Every result carries how it was found; a miss carries every place tried.

import { parseMuslPath, type GlibcConfig, type MuslConfig } from "./config.js";
import { lookupCache, type CacheHit } from "./ld-so-cache.js";
import { LdSoConfError, parseLdSoConf, type ConfDirectory } from "./ld-so-conf.js";
import { verifyGlibcCandidate, verifyMuslCandidate, type HeaderReader, type Verdict } from "./candidate.js";
import { substituteDst, substituteMuslOrigin, type DstValues } from "./dst.js";
import type { Attempt, FoundBy } from "./model.js";
import { dirnameOf, joinGuest, type ResolvedPath, type RootFs } from "../fs/root.js";
import type { FileHeader } from "../elf/file.js";

/** The parts of a loaded object the search looks at. */
export interface SearchObject {
  rpath: string | null;
  runpath: string | null;
  nodeflib: boolean;
  /** $ORIGIN of this object; null when it cannot be known. */
  origin: string | null;
  /** The object that first asked for this one (l_loader / needed_by). */
  loader: SearchObject | null;
  isMain: boolean;
}

export interface Found {
  kind: "found";
  /** The path as the loader built it (l_name). */
  path: string;
  file: ResolvedPath;
  header: FileHeader;
  via: FoundBy;
  searchDir: string | null;
  attempts: Attempt[];
  /** Same-named files in other glibc-hwcaps subdirectories that another CPU would pick. */
  variants: string[];
}

export interface NotFound {
  kind: "missing";
  attempts: Attempt[];
  /** The loader's fatal message for this name, if it gave up rather than ran out of places. */
  fatal: string | null;
}

export type SearchResult = Found | NotFound;

export interface GlibcSearchContext {
  root: RootFs;
  config: GlibcConfig;
  main: SearchObject;
  /** LD_LIBRARY_PATH of the target (not of this process). */
  libraryPath: string | null;
  cwd: string;
  readHeader: HeaderReader;
}

interface SearchDir {
  /** As glibc stores it: expanded, trailing slashes folded to one, "" for the current directory. */
  dirname: string;
  via: FoundBy;
}

/**
 * fillin_rpath / decompose_rpath (glibc elf/dl-load.c): split, expand tokens with the owner's
 * values, drop elements whose token has no value, fold trailing slashes, drop repeats.
 */
function glibcPathList(list: string, separators: RegExp, via: FoundBy, dst: DstValues): SearchDir[] {
  const dirs: SearchDir[] = [];
  const seen = new Set<string>();
  for (const element of list.split(separators)) {
    let dirname = "";
    if (element !== "") {
      const expanded = substituteDst(element, dst);
      if (expanded === "") continue;
      let end = expanded.length;
      while (end > 1 && expanded[end - 1] === "/") end--;
      dirname = expanded.slice(0, end);
      if (!dirname.endsWith("/")) dirname += "/";
    }
    if (seen.has(dirname)) continue;
    seen.add(dirname);
    dirs.push({ dirname, via });
  }
  return dirs;
}

function dstOf(object: SearchObject, config: GlibcConfig): DstValues {
  return { origin: object.origin, platform: config.platform, lib: config.dstLib };
}

/**
 * open_path: each directory, each hwcaps subdirectory inside it, in order. Returns the first
 * loadable candidate, or null; pushes every rejected candidate. A fatal candidate ends the
 * whole search (returned as a NotFound); another open error (not ENOENT or EACCES) for the
 * directory's own candidate abandons the rest of this list.
 */
function openPath(ctx: GlibcSearchContext, name: string, dirs: SearchDir[], attempts: Attempt[]): SearchResult | null {
  for (const dir of dirs) {
    for (const subdir of ctx.config.subdirs) {
      const base = dir.dirname + subdir;
      const path = base + name;
      // Answer ENOENT from the cached directory listing instead of a probe. Absent hwcaps
      // subdirectories are not reported: the loader marks them nonexistent and skips them too.
      if (base !== "") {
        const listing = ctx.root.listDirectory(absoluteDir(base, ctx.cwd));
        if (!listing?.has(name)) {
          if (listing || subdir === "") attempts.push({ path, via: dir.via, rejection: "absent", detail: "No such file or directory" });
          continue;
        }
      }
      const judged = judge(verifyGlibcCandidate(ctx.root, path, ctx.cwd, ctx.config.abi, ctx.readHeader), path, dir.via, attempts);
      if (judged.kind === "next") continue;
      // open_path checks errno once per directory, after its last candidate (the directory's own,
      // tried after its hwcaps subdirectories): an error in a subdirectory does not end the list.
      if (judged.kind === "stop-list") {
        if (subdir === "") return null;
        continue;
      }
      if (judged.kind === "fatal") return notFound(attempts, judged.detail);
      return found(path, judged, dir.via, dir.dirname, attempts, hwcapsVariants(ctx, dir.dirname, name, path));
    }
  }
  return null;
}

function absoluteDir(base: string, cwd: string): string {
  return base.startsWith("/") ? base : joinGuest(cwd, base);
}

/** Files of the same name in every glibc-hwcaps subdirectory of `dirname`, other than the chosen one. */
function hwcapsVariants(ctx: GlibcSearchContext, dirname: string, name: string, chosen: string): string[] {
  if (ctx.config.abi.hwcaps.length === 0) return [];
  const variants: string[] = [];
  for (const hwcap of ctx.config.abi.hwcaps) {
    const candidate = `${dirname}glibc-hwcaps/${hwcap}/${name}`;
    if (candidate !== chosen && ctx.root.listDirectory(absoluteDir(`${dirname}glibc-hwcaps/${hwcap}/`, ctx.cwd))?.has(name)) variants.push(candidate);
  }
  const plain = dirname + name;
  if (plain !== chosen && variants.length + 1 > 0 && chosen.includes("/glibc-hwcaps/") && ctx.root.listDirectory(absoluteDir(dirname, ctx.cwd))?.has(name)) variants.push(plain);
  return variants;
}

type OkVerdict = Extract<Verdict, { kind: "ok" }>;

/** What a verdict means for the search: use it, try the next place, abandon this list, or give up. */
type Judged = OkVerdict | { kind: "next" } | { kind: "stop-list" } | { kind: "fatal"; detail: string };

/** How each rejected verdict is recorded, and whether the search goes on. */
const REJECTIONS: Record<Exclude<Verdict["kind"], "ok">, [Attempt["rejection"], Exclude<Judged["kind"], "ok">]> = {
  absent: ["absent", "next"],
  stop: ["absent", "stop-list"],
  "wrong-class": ["wrong-class", "next"],
  "wrong-machine": ["wrong-machine", "next"],
  fatal: ["fatal", "fatal"],
};

/** Records a rejected verdict among the attempts and says how the search goes on. */
function judge(verdict: Verdict, path: string, via: FoundBy, attempts: Attempt[]): Judged {
  if (verdict.kind === "ok") return verdict;
  const [rejection, next] = REJECTIONS[verdict.kind];
  attempts.push({ path, via, rejection, detail: verdict.detail });
  return next === "fatal" ? { kind: "fatal", detail: verdict.detail } : { kind: next };
}

/** The one shape of a hit. */
function found(path: string, ok: OkVerdict, via: FoundBy, searchDir: string | null, attempts: Attempt[], variants: string[] = []): Found {
  return { kind: "found", path, file: ok.file, header: ok.header, via, searchDir, attempts, variants };
}

function notFound(attempts: Attempt[], fatal: string | null = null): NotFound {
  return { kind: "missing", attempts, fatal };
}

/**
 * What glibc searches remember, per configuration (one per Loader, which also fixes LD_LIBRARY_PATH
 * and the cwd): cache lookups by name, the directories /etc/ld.so.conf lists, and whole searches
 * no requester's RPATH, RUNPATH or $ORIGIN took part in, by DF_1_NODEFLIB and name.
 */
interface GlibcMemo {
  cacheHits: Map<string, CacheHit | null>;
  confDirectories: ConfDirectory[] | null;
  plainSearches: Map<string, SearchResult>;
}

const memos = new WeakMap<GlibcConfig, GlibcMemo>();

function memoOf(config: GlibcConfig): GlibcMemo {
  let memo = memos.get(config);
  if (memo === undefined) memos.set(config, (memo = { cacheHits: new Map(), confDirectories: null, plainSearches: new Map() }));
  return memo;
}

/**
 * glibc's search for a bare name (elf/dl-load.c _dl_map_object, 2.36 order):
 * 1. DT_RPATH of the loader and its loaders up to the main program, unless the loader has DT_RUNPATH;
 *    then the main program's DT_RPATH if not visited yet;
 * 2. LD_LIBRARY_PATH;
 * 3. the loader's own DT_RUNPATH;
 * 4. /etc/ld.so.cache (a hit in a system directory is refused for a DF_1_NODEFLIB loader);
 * 5. the compiled-in system directories, unless the loader has DF_1_NODEFLIB.
 */
export function searchGlibc(ctx: GlibcSearchContext, name: string, loader: SearchObject | null): SearchResult {
  const requester = loader ?? ctx.main;
  // Most programs have no RPATH or RUNPATH anywhere: then the answer depends on the name and
  // DF_1_NODEFLIB alone, for every program a Loader looks at, and is worked out once.
  if (!requesterMatters(ctx, requester)) {
    const plain = memoOf(ctx.config).plainSearches;
    const key = `${requester.nodeflib ? "N" : "-"}${name}`;
    let result = plain.get(key);
    if (result === undefined) {
      result = searchGlibcFrom(ctx, name, loader, requester);
      plain.set(key, result);
    }
    // Callers own the arrays they get.
    return result.kind === "found" ? { ...result, attempts: [...result.attempts], variants: [...result.variants] } : { ...result, attempts: [...result.attempts] };
  }
  return searchGlibcFrom(ctx, name, loader, requester);
}

/** Whether an RPATH, RUNPATH or $ORIGIN of the requester, its loaders or the main program can change the search. */
function requesterMatters(ctx: GlibcSearchContext, requester: SearchObject): boolean {
  if (requester.runpath !== null || ctx.main.rpath !== null) return true;
  for (let l: SearchObject | null = requester; l; l = l.loader) if (l.rpath !== null) return true;
  return ctx.libraryPath !== null && ctx.libraryPath.includes("$");
}

function searchGlibcFrom(ctx: GlibcSearchContext, name: string, loader: SearchObject | null, requester: SearchObject): SearchResult {
  const attempts: Attempt[] = [];
  const inList = (list: string, separators: RegExp, via: FoundBy, owner: SearchObject) => openPath(ctx, name, glibcPathList(list, separators, via, dstOf(owner, ctx.config)), attempts);

  // 1. RPATH chain.
  for (const [owner, rpath] of rpathOwners(ctx, requester)) {
    const r = inList(rpath, /:/, "rpath", owner);
    if (r) return r;
  }

  // 2. LD_LIBRARY_PATH, expanded with the main program's tokens.
  if (ctx.libraryPath !== null && ctx.libraryPath !== "") {
    const r = inList(ctx.libraryPath, /[:;]/, "LD_LIBRARY_PATH", ctx.main);
    if (r) return r;
  }

  // 3. The loader's own RUNPATH.
  if (loader !== null && loader.runpath !== null) {
    const r = inList(loader.runpath, /:/, "runpath", loader);
    if (r) return r;
  }

  // 4. ld.so.cache.
  const cached = searchCache(ctx, name, requester, attempts);
  if (cached.kind === "found" || cached.kind === "missing") return cached;

  // 5. System directories.
  if (!requester.nodeflib) {
    const r = openPath(
      ctx,
      name,
      ctx.config.systemDirs.map((dirname) => ({ dirname, via: "system" as const })),
      attempts,
    );
    if (r) return r;
  }
  if (cached.kind === "no-entry") attempts.push(...unreachableConfFiles(ctx, name, attempts));
  return notFound(attempts);
}

/**
 * The DT_RPATH lists of step 1, with their owners, in order: the requester and its loaders up to
 * the main program (each unless it has DT_RUNPATH), then the main program if not visited yet; none
 * when the requester has DT_RUNPATH.
 */
function* rpathOwners(ctx: GlibcSearchContext, requester: SearchObject): Generator<[SearchObject, string]> {
  if (requester.runpath !== null) return;
  let didMain = false;
  for (let l: SearchObject | null = requester; l; l = l.loader) {
    if (l.rpath === null || l.runpath !== null) continue;
    yield [l, l.rpath];
    didMain ||= l.isMain;
  }
  const main = ctx.main;
  if (!didMain && main.rpath !== null && main.runpath === null) yield [main, main.rpath];
}

/**
 * Step 4, /etc/ld.so.cache: a hit, the loader's fatal verdict on it, or how the search goes on:
 * "no-entry" (no usable cache, or no entry for the name) or "passed-over" (an entry refused for
 * DF_1_NODEFLIB, or a stale one), both on to the system directories.
 */
function searchCache(ctx: GlibcSearchContext, name: string, requester: SearchObject, attempts: Attempt[]): SearchResult | { kind: "no-entry" | "passed-over" } {
  const cache = ctx.config.cache;
  if (!cache) {
    if (ctx.config.cacheProblem) attempts.push({ path: "/etc/ld.so.cache", via: "ld.so.cache", rejection: "absent", detail: ctx.config.cacheProblem });
    return { kind: "no-entry" };
  }
  const hits = memoOf(ctx.config).cacheHits;
  let hit = hits.get(name);
  if (hit === undefined) {
    hit = lookupCache(cache, name, ctx.config.abi.cacheFlags, ctx.config.activeHwcaps);
    hits.set(name, hit);
  }
  if (!hit) {
    attempts.push({ path: "/etc/ld.so.cache", via: "ld.so.cache", rejection: "absent", detail: `no entry for ${name}` });
    return { kind: "no-entry" };
  }
  const path = hit.entry.value;
  if (requester.nodeflib && ctx.config.systemDirs.some((dir) => path.startsWith(dir))) {
    attempts.push({ path, via: "ld.so.cache", rejection: "nodeflib", detail: "in a system directory and the loader has DF_1_NODEFLIB" });
    return { kind: "passed-over" };
  }
  const judged = judge(verifyGlibcCandidate(ctx.root, path, ctx.cwd, ctx.config.abi, ctx.readHeader), path, "ld.so.cache", attempts);
  if (judged.kind === "fatal") return notFound(attempts, judged.detail);
  if (judged.kind === "ok") {
    const variants = hit.alternatives.map((a) => a.value).filter((v) => v !== path);
    return found(path, judged, "ld.so.cache", null, attempts, variants);
  }
  return { kind: "passed-over" }; // a stale entry
}

/**
 * Files of this name in directories /etc/ld.so.conf lists that the search did not reach: the
 * loader never reads ld.so.conf, only the cache ldconfig builds from it, so they count only once
 * ldconfig has run. Reported as hints after the places the loader tried.
 */
function unreachableConfFiles(ctx: GlibcSearchContext, name: string, attempts: Attempt[]): Attempt[] {
  const memo = memoOf(ctx.config);
  // The directories /etc/ld.so.conf lists, read once; none when it cannot be read.
  if (memo.confDirectories === null) {
    try {
      memo.confDirectories = parseLdSoConf(ctx.root).directories;
    } catch (error) {
      if (!(error instanceof LdSoConfError)) throw error;
      memo.confDirectories = [];
    }
  }
  const directories = memo.confDirectories;
  const seen = new Set(attempts.map((a) => a.path));
  const hints: Attempt[] = [];
  for (const dir of directories) {
    const path = `${dir.path}/${name}`;
    if (seen.has(path)) continue;
    seen.add(path);
    if (!ctx.root.listDirectory(dir.path)?.has(name)) continue;
    const listed = dir.file === "/etc/ld.so.conf" ? `/etc/ld.so.conf:${dir.line}` : `/etc/ld.so.conf (${dir.file}:${dir.line})`;
    hints.push({ path, via: "ld.so.cache", rejection: "absent", detail: `listed in ${listed} but not in /etc/ld.so.cache: run ldconfig` });
  }
  return hints;
}

/** A name containing '/': no search, tokens expanded with the requester's values, relative to the cwd. */
export function openGlibcPath(ctx: GlibcSearchContext, name: string, loader: SearchObject | null): SearchResult {
  const attempts: Attempt[] = [];
  const requester = loader ?? ctx.main;
  const path = substituteDst(name, dstOf(requester, ctx.config));
  if (path === "") return notFound(attempts, "empty dynamic string token substitution");
  const judged = judge(verifyGlibcCandidate(ctx.root, path, ctx.cwd, ctx.config.abi, ctx.readHeader), path, "path", attempts);
  if (judged.kind === "ok") return found(path, judged, "path", null, attempts);
  return notFound(attempts, judged.kind === "fatal" ? judged.detail : null);
}

export interface MuslSearchContext {
  root: RootFs;
  config: MuslConfig;
  libraryPath: string | null;
  cwd: string;
  readHeader: HeaderReader;
}

/** musl's path_open: "dir/name" for each element of the list (parseMuslPath). */
function muslPathOpen(ctx: MuslSearchContext, name: string, list: string, via: FoundBy, attempts: Attempt[]): SearchResult | null {
  for (const dir of parseMuslPath(list)) {
    const path = `${dir}/${name}`;
    const verdict = verifyMuslCandidate(ctx.root, path, ctx.cwd, ctx.readHeader);
    if (verdict.kind === "absent") {
      attempts.push({ path, via, rejection: "absent", detail: verdict.detail });
      continue;
    }
    if (verdict.kind !== "ok") {
      attempts.push({ path, via, rejection: "fatal", detail: verdict.detail });
      return notFound(attempts, verdict.detail);
    }
    return found(path, verdict, via, dir, attempts);
  }
  return null;
}

/**
 * musl's load_library search for a bare name (ldso/dynlink.c): LD_LIBRARY_PATH first, then the
 * RPATH or RUNPATH (RUNPATH wins; both inherited) of the requester and its requesters, then the
 * path file or the default "/lib:/usr/local/lib:/usr/lib".
 */
export function searchMusl(ctx: MuslSearchContext, name: string, loader: SearchObject | null): SearchResult {
  const attempts: Attempt[] = [];
  if (ctx.libraryPath) {
    const r = muslPathOpen(ctx, name, ctx.libraryPath, "LD_LIBRARY_PATH", attempts);
    if (r) return r;
  }
  for (let p: SearchObject | null = loader; p; p = p.loader) {
    const list = p.runpath ?? p.rpath;
    if (list === null) continue;
    const expanded = p.origin === null ? null : substituteMuslOrigin(list, p.origin);
    if (expanded === null) continue;
    const r = muslPathOpen(ctx, name, expanded, p.runpath !== null ? "runpath" : "rpath", attempts);
    if (r) return r;
  }
  return muslPathOpen(ctx, name, ctx.config.systemPath, "musl-path", attempts) ?? notFound(attempts);
}

export function openMuslPath(ctx: MuslSearchContext, name: string): SearchResult {
  const attempts: Attempt[] = [];
  const verdict = verifyMuslCandidate(ctx.root, name, ctx.cwd, ctx.readHeader);
  if (verdict.kind === "ok") return found(name, verdict, "path", null, attempts);
  attempts.push({ path: name, via: "path", rejection: verdict.kind === "absent" ? "absent" : "fatal", detail: verdict.detail });
  return notFound(attempts, verdict.kind === "absent" ? null : verdict.detail);
}

/** $ORIGIN of an object found at `path` (dl-object.c): its directory as found, cwd-prefixed if relative. */
export function originOfFoundPath(path: string, cwd: string): string {
  const absolute = path.startsWith("/") ? path : joinGuest(cwd, path);
  return dirnameOf(absolute);
}
