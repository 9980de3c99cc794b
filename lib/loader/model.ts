// The result of loading a program as the dynamic loader would: every object, how and why it was found.

import type { Flavour } from "./config.js";

/** How a loader found an object (libtree's reason tags, plus what libtree does not model). */
export type FoundBy =
  | "main"
  | "interpreter"
  | "preload"
  | "path" // the name contains '/': opened as given
  | "rpath"
  | "LD_LIBRARY_PATH"
  | "runpath"
  | "ld.so.cache"
  | "system" // compiled-in trusted directory
  | "musl-libc" // musl: a libc name, served by the loader itself
  | "musl-path" // musl: /etc/ld-musl-ARCH.path or its default
  | "audit";

/** Why a candidate path was passed over or ended the search. */
export type Rejection =
  | "absent" // ENOENT, ENOTDIR, EACCES: the loader tries the next place
  | "wrong-class"
  | "wrong-machine"
  | "nodeflib" // cache hit in a system directory for a DF_1_NODEFLIB loader
  | "fatal"; // a defect that makes the loader give up on this name

export interface Attempt {
  path: string;
  via: FoundBy;
  rejection: Rejection;
  detail: string;
}

export interface LoadedObject {
  index: number;
  /** The name it was first asked for (l_libname); "" for the main program. */
  name: string;
  /** The path as the loader found it (l_name): search directory + name, the cache value, or the name itself. */
  path: string;
  /** Canonical path inside the root. */
  realPath: string;
  foundBy: FoundBy;
  /** The directory list entry it was found in, when found by a search. */
  searchDir: string | null;
  /**
   * Index of the first object that asked for it (l_loader); null for the main program and the
   * interpreter, which is loaded before anything asks. A preload's is 0, the main program.
   */
  loader: number | null;
  /** Every object that asked for it, in order. */
  requestedBy: number[];
  /** Every other name it answered to (soname matches, aliases by file identity). */
  aliases: string[];
  soname: string | null;
  needed: string[];
  /** DT_FILTER and DT_AUXILIARY names (filtees are loaded like dependencies). */
  filtees: string[];
  /** The subset of `filtees` that are auxiliary (optional). */
  auxiliary: string[];
  rpath: string | null;
  runpath: string | null;
  nodeflib: boolean;
  machine: number;
  /** Other files a different CPU would load instead (glibc-hwcaps variants present on disk). */
  variants: string[];
  /** Every place tried before it was found. */
  attempts: Attempt[];
  /** What each of its DT_NEEDED entries resolved to, in order (an object or a miss). */
  edges: Edge[];
}

export interface Edge {
  name: string;
  target: number | null;
  missing: number | null;
}

export interface MissingObject {
  index: number;
  name: string;
  requestedBy: number;
  /** Every place tried and why each was rejected. */
  attempts: Attempt[];
  /** Set when the loader would abort the whole program on this name (not merely "not found"). */
  fatal: string | null;
}

/** One line of the loader's link-map order: an object or a name that was not found. */
export type ChainEntry = { kind: "object"; index: number } | { kind: "missing"; index: number } | { kind: "musl-libc"; name: string };

export interface LoadGraph {
  /** The file as the user named it. */
  input: string;
  root: string;
  flavour: Flavour | "static";
  interpreter: string | null;
  /** The ABI (Debian architecture name, e.g. "amd64", "arm64") of the main object, when known. */
  abi: string | null;
  /** Objects; index 0 is the main program. */
  objects: LoadedObject[];
  missing: MissingObject[];
  /** Link-map order, main program excluded, as the loader's trace prints it. */
  chain: ChainEntry[];
  /** Audit modules (DT_AUDIT/DT_DEPAUDIT), each loaded in a namespace of its own: not in the chain. */
  audit: LoadGraph[];
  /** Whether the input was listed as a program started for real or as a library (`ld.so --list`). */
  mode: "program" | "library";
  /** A whole-program error (the loader would print only this): fatal defect of a dependency. */
  error: string | null;
}
