import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, statfsSync, type Stats } from "node:fs";
import { resolve as resolveHostPath } from "node:path";
import { PathError, errnoText } from "../errors.js";
import { decodeName, fsPath } from "../fs-name.js";
import { present } from "../present.js";

/** Linux's limit on symlinks followed in one path walk (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

export type PathErrorCode = "ENOENT" | "ENOTDIR" | "ELOOP" | "EACCES" | "EIO";

/** A path that cannot be resolved inside the root, named as the target sees it. */
export class RootPathError extends PathError {
  override readonly name = "RootPathError";
  constructor(
    path: string,
    readonly code: PathErrorCode,
  ) {
    super(path, present(errnoText(code), `strerror of ${code}`));
  }
}

/** A file of the root larger than magicpak reads (a hostile or broken root): named with the limit. */
export class RootFileTooLarge extends PathError {
  override readonly name = "RootFileTooLarge";
}

/**
 * The most magicpak reads of a configuration file of the root (ld.so.preload, nsswitch.conf,
 * ld.so.conf, musl's path file) unless a caller gives another bound: 1 MiB, far beyond any real one.
 */
export const DEFAULT_READ_LIMIT = 1 << 20;

/** statfs(2) f_type of the kernel's pseudo-filesystems, whose stat sizes say nothing about content. */
const PSEUDO_FILESYSTEMS = new Set([
  0x9fa0 /* proc */, 0x62656572 /* sysfs */, 0x64626720 /* debugfs */, 0x74726163 /* tracefs */, 0x27e0eb /* cgroup */, 0x63677270 /* cgroup2 */, 0x73636673 /* securityfs */, 0xcafe4a11 /* bpf */,
  0x62656570 /* configfs */, 0xde5e81e4 /* efivarfs */, 0x6165676c /* pstore */,
]);

/** Whether the host file `hostPath` is on procfs, sysfs or another kernel pseudo-filesystem. */
export function isPseudoFile(hostPath: string): boolean {
  try {
    return PSEUDO_FILESYSTEMS.has(statfsSync(fsPath(hostPath || "/")).type);
  } catch {
    return false;
  }
}

/** The identity of a file (st_dev:st_ino), as the loader compares objects and tar/cp find hard links. */
export function fileIdentity(stats: { dev: number; ino: number }): string {
  return `${stats.dev}:${stats.ino}`;
}

/** A symlink met while resolving: where it is (its parent canonical) and its raw target. */
export interface SymlinkHop {
  at: string;
  target: string;
}

export interface ResolvedPath {
  /** Canonical path inside the root: absolute, no symlinks, no `.` or `..`. */
  path: string;
  /** The same file as the host sees it. */
  hostPath: string;
  stats: Stats;
}

/**
 * A view of a root filesystem in which every path is resolved as it would be after chroot(ROOT):
 * absolute symlink targets and `..` at the top stay inside the root. No host path outside the root
 * is ever followed, because every component is lstat'ed and every symlink is re-read here.
 */
export class RootFs {
  /** Absolute host path of the root, without a trailing slash ("" for the host's own "/"). */
  private readonly prefix: string;
  private readonly dirCache = new Map<string, string | RootPathError>();
  private readonly listingCache = new Map<string, Set<string> | null>();
  /** Whole-path resolutions. The analysed tree is taken not to change while a RootFs is in use. */
  private readonly pathCache = new Map<string, ResolvedPath | RootPathError>();

  constructor(readonly root: string = "/") {
    const absolute = resolveHostPath(root);
    this.prefix = absolute === "/" ? "" : absolute;
  }

  get isHostRoot(): boolean {
    return this.prefix === "";
  }

  /** The host path of a guest path, without resolving anything. Only for canonical guest paths. */
  hostPath(canonicalGuestPath: string): string {
    return this.prefix + canonicalGuestPath;
  }

  /** Resolves a guest path (relative paths against `cwd`), following symlinks as chroot would. */
  resolve(path: string, cwd = "/", followLast = true): ResolvedPath {
    const result = this.lookup(path, cwd, followLast);
    if (result instanceof RootPathError) throw result.path === path ? result : new RootPathError(path, result.code);
    return result;
  }

  /** Like resolve, but returns the error instead of throwing it: the loader probes many absent paths. */
  lookup(path: string, cwd = "/", followLast = true): ResolvedPath | RootPathError {
    const absolute = path.startsWith("/") ? path : joinGuest(cwd, path);
    const key = followLast ? absolute : `${absolute}\0nofollow`;
    let result = this.pathCache.get(key);
    if (result === undefined) {
      try {
        result = this.resolveUncached(absolute, path, followLast);
      } catch (error) {
        if (!(error instanceof RootPathError)) throw error;
        result = error;
      }
      this.pathCache.set(key, result);
    }
    return result;
  }

  private resolveUncached(absolute: string, path: string, followLast: boolean): ResolvedPath {
    const slash = absolute.lastIndexOf("/");
    const dirPart = absolute.slice(0, slash) || "/";
    const last = absolute.slice(slash + 1);
    const dir = this.resolveDirectory(dirPart);
    if (last === "" || last === "." || last === "..") {
      const target = last === ".." ? parentOf(dir) : dir;
      return { path: target, hostPath: this.hostPath(target), stats: this.lstatOrThrow(target, path) };
    }
    return this.walk(dir, [last], path, followLast, 0);
  }

  /** Like resolve, but null when the path does not resolve. */
  tryResolve(path: string, cwd = "/", followLast = true): ResolvedPath | null {
    const result = this.lookup(path, cwd, followLast);
    return result instanceof RootPathError ? null : result;
  }

  /** The canonical guest path of a directory; cached, since loaders probe the same directories again and again. */
  resolveDirectory(path: string): string {
    const cached = this.dirCache.get(path);
    if (cached !== undefined) {
      if (cached instanceof RootPathError) throw cached;
      return cached;
    }
    let result: string | RootPathError;
    try {
      const resolved = this.walk("/", splitGuest(path), path, true, 0);
      if (!resolved.stats.isDirectory()) throw new RootPathError(path, "ENOTDIR");
      result = resolved.path;
    } catch (error) {
      if (!(error instanceof RootPathError)) throw error;
      result = error;
    }
    this.dirCache.set(path, result);
    if (result instanceof RootPathError) throw result;
    return result;
  }

  /** Names in a directory (guest path), cached; null when it is not a readable directory. */
  listDirectory(path: string): Set<string> | null {
    let canonical: string;
    try {
      canonical = this.resolveDirectory(path);
    } catch (error) {
      if (error instanceof RootPathError) return null;
      throw error;
    }
    const cached = this.listingCache.get(canonical);
    if (cached !== undefined) return cached;
    let names: Set<string> | null;
    try {
      names = new Set(readdirSync(fsPath(this.hostPath(canonical) || "/"), { encoding: "buffer" }).map((name) => decodeName(name)));
    } catch {
      names = null;
    }
    this.listingCache.set(canonical, names);
    return names;
  }

  /** Raw symlink target of a guest path whose parent resolves, or null if it is not a symlink. */
  readlink(path: string): string | null {
    const resolved = this.tryResolve(path, "/", false);
    if (!resolved || !resolved.stats.isSymbolicLink()) return null;
    return decodeName(readlinkSync(fsPath(resolved.hostPath), { encoding: "buffer" }));
  }

  /**
   * Contents of a regular file inside the root, or null if it is absent, not a regular file or
   * unreadable. At most `limit` bytes (DEFAULT_READ_LIMIT unless given) are read: a larger file
   * throws RootFileTooLarge naming it, so a hostile root costs neither memory nor time. The file is
   * opened without following a link at its last component and read from that descriptor to EOF.
   */
  readFile(path: string, limit = DEFAULT_READ_LIMIT): Buffer | null {
    const resolved = this.tryResolve(path);
    if (!resolved || !resolved.stats.isFile()) return null;
    const tooLarge = () => new RootFileTooLarge(path, `is larger than the ${limit} bytes magicpak reads of it`);
    if (resolved.stats.size > limit) throw tooLarge();
    let fd: number;
    try {
      fd = openSync(fsPath(resolved.hostPath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch {
      return null;
    }
    try {
      if (!fstatSync(fd).isFile()) return null;
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const chunk = Buffer.allocUnsafe(Math.min(1 << 16, limit + 1 - total));
        const n = readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) break;
        chunks.push(chunk.subarray(0, n));
        total += n;
        if (total > limit) throw tooLarge(); // grew, or a pseudo-file with no end
      }
      return Buffer.concat(chunks, total);
    } catch (error) {
      if (error instanceof RootFileTooLarge) throw error;
      return null;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Like readFile, for data a hostile root controls: opened without following a last symlink
   * (the path is canonical, so one there appeared after resolving), checked to be a regular file
   * by the descriptor, and read up to `limit` bytes. null when absent, not a regular file or larger.
   */
  readFileBounded(path: string, limit: number): Buffer | null {
    const resolved = this.tryResolve(path);
    if (!resolved || !resolved.stats.isFile() || resolved.stats.size > limit) return null;
    let fd: number;
    try {
      fd = openSync(fsPath(resolved.hostPath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return null;
    }
    try {
      const stats = fstatSync(fd);
      if (!stats.isFile() || stats.size > limit) return null;
      const buffer = Buffer.alloc(Math.min(stats.size, limit) + 1);
      let length = 0;
      while (length < buffer.length) {
        const n = readSync(fd, buffer, length, buffer.length - length, null);
        if (n === 0) break;
        length += n;
      }
      return length > limit ? null : buffer.subarray(0, length);
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
  }

  private lstatOrThrow(canonical: string, asked: string): Stats {
    let stats: Stats | undefined;
    try {
      // throwIfNoEntry: an absent path is the common miss, answered without building an exception.
      stats = lstatSync(fsPath(this.hostPath(canonical) || "/"), { throwIfNoEntry: false });
    } catch (error) {
      throw new RootPathError(asked, errorCode(error));
    }
    if (stats === undefined) throw new RootPathError(asked, "ENOENT");
    return stats;
  }

  /**
   * Resolves a path and reports every symlink met on the way, each at its location with a
   * canonical parent, so the same chain can be rebuilt in an image.
   */
  traverse(path: string, cwd = "/"): { resolved: ResolvedPath; links: SymlinkHop[] } {
    const absolute = path.startsWith("/") ? path : joinGuest(cwd, path);
    const links: SymlinkHop[] = [];
    const resolved = this.walk("/", splitGuest(absolute), path, true, 0, links);
    return { resolved, links };
  }

  /** Walks `components` from the canonical directory `start`, following symlinks inside the root. */
  private walk(start: string, components: string[], asked: string, followLast: boolean, hops: number, links?: SymlinkHop[]): ResolvedPath {
    const stack = start === "/" ? [] : start.slice(1).split("/");
    const pending = components.slice();
    let stats: Stats | null = null;
    while (pending.length > 0) {
      const part = present(pending.shift(), "a pending path component");
      if (part === "" || part === ".") continue;
      if (part === "..") {
        stack.pop();
        stats = null;
        continue;
      }
      const candidate = "/" + [...stack, part].join("/");
      const st = this.lstatOrThrow(candidate, asked);
      if (st.isSymbolicLink() && (pending.length > 0 || followLast)) {
        if (++hops > MAX_SYMLINKS) throw new RootPathError(asked, "ELOOP");
        let target: string;
        try {
          target = decodeName(readlinkSync(fsPath(this.hostPath(candidate)), { encoding: "buffer" }));
        } catch (error) {
          throw new RootPathError(asked, errorCode(error));
        }
        links?.push({ at: candidate, target });
        if (target.startsWith("/")) stack.length = 0;
        pending.unshift(...splitGuest(target));
        stats = null;
        continue;
      }
      if (pending.length > 0 && !st.isDirectory()) throw new RootPathError(asked, "ENOTDIR");
      stack.push(part);
      stats = st;
    }
    const path = "/" + stack.join("/");
    return { path, hostPath: this.hostPath(path), stats: stats ?? this.lstatOrThrow(path, asked) };
  }
}

function errorCode(error: unknown): PathErrorCode {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP" || code === "EACCES" ? code : "EIO";
}

function splitGuest(path: string): string[] {
  return path.split("/").filter((p) => p !== "");
}

/** Joins guest paths textually, as the loader builds `dir/name` (no normalisation). */
export function joinGuest(dir: string, name: string): string {
  if (dir === "") return name;
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/** Directory part of a path as dirname(3) would give it, without normalisation. */
export function dirnameOf(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return ".";
  if (slash === 0) return "/";
  return path.slice(0, slash);
}

function parentOf(canonical: string): string {
  return canonical === "/" ? "/" : dirnameOf(canonical);
}
