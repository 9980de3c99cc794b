// Loads a program as the dynamic loader would, without running it: preloads, then a breadth-first
// walk of DT_NEEDED (glibc elf/dl-deps.c _dl_map_object_deps; musl ldso/dynlink.c load_deps),
// reusing objects by name, SONAME and file identity exactly where the loader does.

import { PathError } from "../errors.js";
import { ElfError } from "../elf/errors.js";
import { hasNodeflib, readElf, readHeader, type ElfFile, type FileHeader } from "../elf/file.js";
import { RootFs, RootPathError, dirnameOf, fileIdentity, type ResolvedPath } from "../fs/root.js";
import { detectHostCpu, flavourOfInterpreter, glibcConfig, muslConfig, type Flavour, type GlibcConfig, type HostCpu, type LoaderConfig, type MuslConfig } from "./config.js";
import { containsDst, substituteDst } from "./dst.js";
import { abiByName, abiOf, hostAbi, type Abi } from "./machines.js";
import type { Attempt, FoundBy, LoadedObject, LoadGraph, MissingObject } from "./model.js";
import {
  openGlibcPath,
  openMuslPath,
  originOfFoundPath,
  searchGlibc,
  searchMusl,
  type GlibcSearchContext,
  type MuslSearchContext,
  type Found,
  type SearchObject,
  type SearchResult,
} from "./search.js";
import { present } from "../present.js";

/** The target process's environment, given explicitly: the host's own never leaks in. */
export interface TargetEnvironment {
  /** LD_LIBRARY_PATH of the target. */
  libraryPath?: string | null;
  /** LD_PRELOAD of the target. */
  preload?: string | null;
  /** Working directory of the target, for relative names and empty path elements. */
  cwd?: string;
  /**
   * CPU of the machine that will run the target: "host" reads this machine's (the default when
   * the root is "/" and the target is this machine's architecture), null = unknown.
   */
  cpu?: HostCpu | null | "host";
}

export interface LoadOptions {
  /** "program": as when started for real; "library": as `ld.so --list FILE`. Default: by PT_INTERP. */
  mode?: "program" | "library";
}

/** Thrown for an input that cannot be analysed at all (missing, not ELF, no loader for it). */
export class InputError extends PathError {
  override readonly name = "InputError";
}

/** TargetEnvironment with its defaults filled in. */
type ResolvedEnvironment = Required<Omit<TargetEnvironment, "cpu">> & { cpu: HostCpu | null | "host" };

interface Node extends SearchObject {
  object: LoadedObject;
}

/** What one _dl_map_object / load_library came to. */
type Mapped =
  | { kind: "object"; index: number }
  /** Not found: graph.missing[index]. */
  | { kind: "missing"; index: number }
  /** A preload that cannot be loaded: the loader says so and goes on without it. */
  | { kind: "ignored" };

/** An object already loaded under a name (glibc's _dl_name_match_p or SONAME check). */
type Loaded = { kind: "object"; index: number } | { kind: "unplaced-interpreter"; interpreter: Interpreter };

/** The walk's one loader flavour, with the search context of that flavour. */
type Strategy = { flavour: "glibc"; ctx: GlibcSearchContext } | { flavour: "musl"; ctx: MuslSearchContext };

/** The interpreter, loaded before anything else but placed in the list where it is first needed. */
interface Interpreter {
  node: Node;
  /** dev:ino, by which a search that finds it under another name reuses it. */
  id: string;
  placed: boolean;
}

/**
 * One analysis session over one root: configurations, ELF headers and directory listings are
 * cached across every program loaded through it.
 */
export class Loader {
  readonly root: RootFs;
  private readonly env: ResolvedEnvironment;
  private readonly configs = new Map<string, LoaderConfig>();
  private readonly elfCache = new Map<string, ElfFile | ElfError>();
  private readonly headerCache = new Map<string, FileHeader | ElfError>();
  private hostCpu: HostCpu | null | undefined;
  /** Bytes of ELF data read from disk by this session. */
  bytesRead = 0;

  constructor(root: string | RootFs = "/", env: TargetEnvironment = {}) {
    this.root = typeof root === "string" ? new RootFs(root) : root;
    this.env = {
      libraryPath: env.libraryPath ?? null,
      preload: env.preload ?? null,
      cwd: env.cwd ?? "/",
      cpu: env.cpu === undefined ? "host" : env.cpu,
    };
  }

  private cpuFor(abi: Abi): HostCpu | null {
    if (this.env.cpu !== "host") return this.env.cpu;
    if (!this.root.isHostRoot) return null;
    if (this.hostCpu === undefined) this.hostCpu = detectHostCpu();
    return hostAbi()?.name === abi.name ? this.hostCpu : null;
  }

  config(flavour: "glibc", abi: Abi, interpreter: string): GlibcConfig;
  config(flavour: "musl", abi: Abi, interpreter: string): MuslConfig;
  config(flavour: Flavour, abi: Abi, interpreter: string): LoaderConfig;
  config(flavour: Flavour, abi: Abi, interpreter: string): LoaderConfig {
    if (flavour !== "glibc" && flavour !== "musl") throw new TypeError(`Loader.config: flavour must be "glibc" or "musl" (got ${JSON.stringify(flavour)})`);
    const key = `${flavour}\0${abi.name}\0${interpreter}`;
    let config = this.configs.get(key);
    if (!config) {
      config = flavour === "glibc" ? glibcConfig(this.root, abi, interpreter, { cpu: this.cpuFor(abi) }) : muslConfig(this.root, abi, interpreter);
      this.configs.set(key, config);
    }
    return config;
  }

  /** Reads an ELF file at a canonical guest path, once per session. */
  readObject(canonicalPath: string): ElfFile {
    const cached = this.elfCache.get(canonicalPath);
    if (cached instanceof ElfError) throw cached;
    if (cached) return cached;
    try {
      const elf = readElf(canonicalPath, {}, this.root.hostPath(canonicalPath));
      this.bytesRead += elf.bytesRead;
      this.elfCache.set(canonicalPath, elf);
      return elf;
    } catch (error) {
      if (error instanceof ElfError) this.elfCache.set(canonicalPath, error);
      throw error;
    }
  }

  /** Reads the ELF header of a resolved candidate, once per session. */
  readonly readHeader = (file: ResolvedPath): FileHeader => {
    const known = this.elfCache.get(file.path);
    if (known && !(known instanceof ElfError)) return known.header;
    let cached = this.headerCache.get(file.path);
    if (cached === undefined && file.stats.isFile() && !this.elfCache.has(file.path)) {
      // A candidate that passes is read in full next, so read it in full now: one open, not two.
      try {
        return this.readObject(file.path).header;
      } catch (error) {
        if (!(error instanceof ElfError)) throw error;
        // A defect past the header is for the caller to meet later; judge the header alone.
      }
    }
    if (cached === undefined) {
      try {
        cached = readHeader(file.path, file.hostPath);
      } catch (error) {
        if (!(error instanceof ElfError)) throw error;
        cached = error;
      }
      this.headerCache.set(file.path, cached);
    }
    if (cached instanceof ElfError) throw cached;
    return cached;
  };

  /**
   * Where the loader of `graph` finds `name` for a dlopen from libc itself (NSS modules,
   * libgcc_s): the caller has no RPATH or RUNPATH, so LD_LIBRARY_PATH, the cache and the system
   * directories decide (glibc's __libc_dlopen). Null when it is not found.
   */
  dlopenFromLibc(graph: LoadGraph, name: string): string | null {
    const abi = graph.abi ? abiByName(graph.abi) : null;
    if (!abi || graph.flavour !== "glibc" || !graph.interpreter) return null;
    const config = this.config("glibc", abi, graph.interpreter);
    const caller: SearchObject = { rpath: null, runpath: null, nodeflib: false, origin: null, loader: null, isMain: true };
    const result = searchGlibc({ root: this.root, config, main: caller, libraryPath: this.env.libraryPath, cwd: this.env.cwd, readHeader: this.readHeader }, name, null);
    return result.kind === "found" ? result.path : null;
  }

  /** The glibc interpreter for a library listed on its own: the ABI's canonical one present in the root. */
  private interpreterForLibrary(abi: Abi): { flavour: Flavour; interpreter: string } | null {
    for (const interp of abi.glibcInterpreters) if (this.root.tryResolve(interp)) return { flavour: "glibc", interpreter: interp };
    const musl = `/lib/ld-musl-${abi.muslArch}.so.1`;
    if (this.root.tryResolve(musl)) return { flavour: "musl", interpreter: musl };
    return null;
  }

  /** Loads `input` (a path inside the root, as the target would name it) and returns its graph. */
  load(input: string, options: LoadOptions = {}): LoadGraph {
    const cwd = this.env.cwd;
    let resolved;
    try {
      resolved = this.root.resolve(input, cwd);
    } catch (error) {
      if (error instanceof RootPathError) throw new InputError(input, error.problem);
      throw error;
    }
    if (!resolved.stats.isFile()) throw new InputError(input, resolved.stats.isDirectory() ? "is a directory" : "not a regular file");
    let elf: ElfFile;
    try {
      elf = this.readObject(resolved.path);
    } catch (error) {
      if (error instanceof ElfError) throw new InputError(input, `not a loadable ELF file: ${error.detail}`);
      throw error;
    }
    const abi = abiOf(elf.header);
    const mode = options.mode ?? (elf.interp !== null ? "program" : "library");
    if (mode !== "program" && mode !== "library") throw new TypeError(`load: mode must be "program" or "library" (got ${JSON.stringify(mode)})`);
    const mainObject: LoadedObject = {
      index: 0,
      name: "",
      path: mode === "program" ? "" : input,
      realPath: resolved.path,
      foundBy: "main",
      searchDir: null,
      loader: null,
      requestedBy: [],
      aliases: [],
      ...elfFields(elf),
      variants: [],
      attempts: [],
      edges: [],
    };
    const graph: LoadGraph = {
      input,
      root: this.root.root,
      flavour: "static",
      interpreter: null,
      abi: abi?.name ?? null,
      objects: [mainObject],
      missing: [],
      chain: [],
      audit: [],
      mode,
      error: null,
    };
    if (elf.dynamic === null) return graph; // statically linked: nothing to load
    if (!abi) throw new InputError(input, `unsupported machine ${elf.header.machine} (class ${elf.header.class}, data ${elf.header.data})`);
    let interp: { flavour: Flavour; interpreter: string } | null;
    if (mode === "program" && elf.interp !== null) {
      const flavour = flavourOfInterpreter(elf.interp);
      if (!flavour) throw new InputError(input, `unknown program interpreter ${elf.interp}`);
      interp = { flavour, interpreter: elf.interp };
    } else {
      interp = this.interpreterForLibrary(abi);
      if (!interp) throw new InputError(input, `no ${abi.name} dynamic loader in ${this.root.root}`);
    }
    graph.flavour = interp.flavour;
    graph.interpreter = interp.interpreter;
    const config = this.config(interp.flavour, abi, interp.interpreter);
    // $ORIGIN of the main program: its real path when started for real (/proc/self/exe), the path as given for `--list`.
    const mainOrigin = mode === "program" ? dirnameOf(resolved.path) : originOfFoundPath(input, cwd);
    const walk = new Walk(this, this.env, graph, config, mainOrigin, resolved.path);
    walk.run(elf);
    return graph;
  }
}

/** One breadth-first load of one program. */
class Walk {
  private readonly nodes: Node[] = [];
  private readonly identity = new Map<string, number>(); // dev:ino -> object index
  private readonly root: RootFs;
  private readonly cwd: string;
  private readonly strategy: Strategy;
  private readonly mainNode: Node;
  private interpreter: Interpreter | null = null;
  private readonly reportedMuslGroups = new Set<string>();
  /** musl: basename of the path each searched-for object was found at (DT_SONAME plays no part). */
  private readonly shortnames = new Map<string, number>();

  constructor(
    private readonly loader: Loader,
    private readonly env: ResolvedEnvironment,
    private readonly graph: LoadGraph,
    private readonly config: LoaderConfig,
    mainOrigin: string,
    mainRealPath: string,
  ) {
    this.root = loader.root;
    this.cwd = env.cwd;
    const main = present(graph.objects[0], "the main object");
    const mainNode: Node = {
      object: main,
      rpath: main.rpath,
      runpath: main.runpath,
      nodeflib: main.nodeflib,
      origin: mainOrigin,
      loader: null,
      isMain: true,
    };
    this.mainNode = mainNode;
    this.nodes.push(mainNode);
    const mainFile = this.root.tryResolve(mainRealPath);
    if (mainFile) this.identity.set(fileIdentity(mainFile.stats), 0);
    const common = { root: this.root, libraryPath: env.libraryPath, cwd: this.cwd, readHeader: loader.readHeader };
    this.strategy = config.flavour === "glibc" ? { flavour: "glibc", ctx: { ...common, config, main: mainNode } } : { flavour: "musl", ctx: { ...common, config } };
  }

  run(mainElf: ElfFile): void {
    this.prepareInterpreter();
    const main = this.mainNode;
    const queue: number[] = [0];
    for (const name of this.preloadNames()) {
      const mapped = this.map(name, main, true);
      if (mapped.kind === "object" && !queue.includes(mapped.index)) queue.push(mapped.index);
    }
    // DT_AUDIT / DT_DEPAUDIT of the main program: loaded in their own namespace.
    for (const list of [mainElf.dynamic?.audit, mainElf.dynamic?.depaudit]) {
      if (!list) continue;
      for (const name of list.split(":").filter((n) => n !== "")) this.loadAudit(name);
    }
    const queued = new Set(queue);
    const glibc = this.strategy.flavour === "glibc" ? this.strategy.ctx : null;
    for (let q = 0; q < queue.length; q++) {
      const index = present(queue[q], `queue entry ${q}`);
      const object = this.object(index);
      const node = present(this.nodes[index], `node of object ${index}`);
      // DT_FILTER and DT_AUXILIARY objects are loaded like dependencies (dl-deps.c); a missing
      // auxiliary filtee is ignored.
      const names = [...object.needed.map((n) => [n, false] as const), ...object.filtees.map((n) => [n, object.auxiliary.includes(n)] as const)];
      for (const [rawName, optional] of names) {
        if (optional && glibc && !this.findAuxiliary(glibc, rawName, node)) continue;
        let name = rawName;
        if (glibc && containsDst(rawName)) {
          name = substituteDst(rawName, { origin: node.origin, platform: glibc.config.platform, lib: glibc.config.dstLib });
          if (name === "") {
            this.fail(rawName, index, [], "empty dynamic string token substitution");
            continue;
          }
        }
        const mapped = this.map(name, node, false);
        object.edges.push({ name: rawName, target: mapped.kind === "object" ? mapped.index : null, missing: mapped.kind === "missing" ? mapped.index : null });
        if (mapped.kind === "object" && !queued.has(mapped.index)) {
          queued.add(mapped.index);
          queue.push(mapped.index);
        }
        if (this.graph.error) return;
      }
    }
  }

  /** Whether an auxiliary filtee can be loaded at all (if not, glibc skips it silently). */
  private findAuxiliary(ctx: GlibcSearchContext, name: string, node: Node): boolean {
    const loaded = this.findLoadedGlibc(name);
    if (loaded) {
      // _dl_map_object adds a name matched by SONAME to the object's names, whoever asked.
      if (loaded.kind === "object") this.addAlias(loaded.index, name);
      return true;
    }
    const result = name.includes("/") ? openGlibcPath(ctx, name, node) : searchGlibc(ctx, name, node);
    return result.kind === "found";
  }

  /** The interpreter is loaded first, under its PT_INTERP name and its SONAME, but listed only where first needed. */
  private prepareInterpreter(): void {
    const interp = this.config.interpreter;
    const file = this.root.tryResolve(interp, this.cwd);
    if (!file || !file.stats.isFile()) return;
    let elf: ElfFile;
    try {
      elf = this.loader.readObject(file.path);
    } catch {
      return;
    }
    const object: LoadedObject = {
      index: -1,
      name: interp,
      path: interp,
      realPath: file.path,
      foundBy: "interpreter",
      searchDir: null,
      loader: null,
      requestedBy: [],
      aliases: this.config.flavour === "glibc" && elf.dynamic?.soname ? [elf.dynamic.soname] : [],
      ...elfFields(elf),
      variants: [],
      attempts: [],
      edges: [],
    };
    const node: Node = { object, rpath: null, runpath: null, nodeflib: false, origin: dirnameOf(interp), loader: null, isMain: false };
    this.interpreter = { node, id: fileIdentity(file.stats), placed: false };
  }

  /** Puts the interpreter into the object list at the point it is first needed. */
  private placeInterpreter(interpreter: Interpreter, requester: number): number {
    const node = interpreter.node;
    const object = node.object;
    if (!interpreter.placed) {
      interpreter.placed = true;
      object.index = this.graph.objects.length;
      this.graph.objects.push(object);
      this.nodes.push(node);
      // rtld.c puts the loader back "in symbol search order": right after the object before it in
      // the search list, which holds no not-found entries (dl-deps.c drops faked maps from it).
      let at = this.graph.chain.length;
      while (at > 0 && this.graph.chain[at - 1]?.kind !== "object") at--;
      this.graph.chain.splice(at, 0, { kind: "object", index: object.index });
      this.identity.set(interpreter.id, object.index);
    }
    if (!object.requestedBy.includes(requester)) object.requestedBy.push(requester);
    return object.index;
  }

  private preloadNames(): string[] {
    const env = this.env;
    const names: string[] = [];
    const glibc = this.strategy.flavour === "glibc";
    if (env.preload) names.push(...env.preload.split(glibc ? /[ :]/ : /[\s:]/).filter((n) => n !== ""));
    if (this.strategy.flavour === "glibc") names.push(...this.strategy.ctx.config.preloadFile);
    return names;
  }

  /** glibc _dl_map_object / musl load_library. */
  private map(name: string, requester: Node, preload: boolean): Mapped {
    const requesterIndex = requester.object.index;
    const strategy = this.strategy;
    if (strategy.flavour === "glibc") return this.mapGlibc(strategy.ctx, name, requester, requesterIndex, preload);
    return this.mapMusl(strategy.ctx, name, requester, requesterIndex, preload);
  }

  private mapGlibc(ctx: GlibcSearchContext, name: string, requester: Node, requesterIndex: number, preload: boolean): Mapped {
    // Already loaded under this name, path or SONAME (_dl_name_match_p, then the SONAME check).
    const existing = this.findLoadedGlibc(name);
    if (existing?.kind === "object") return this.reuse(existing.index, name, requesterIndex);
    if (existing) return { kind: "object", index: this.placeInterpreter(existing.interpreter, requesterIndex) };
    const result: SearchResult = name.includes("/") ? openGlibcPath(ctx, name, requester) : searchGlibc(ctx, name, requester);
    if (result.kind === "missing") {
      if (preload) return { kind: "ignored" }; // "cannot be preloaded ... ignored"
      return this.fail(name, requesterIndex, result.attempts, result.fatal);
    }
    // Same file already loaded under another name (_dl_map_object_from_fd's file identity check).
    const id = fileIdentity(result.file.stats);
    if (this.interpreter && id === this.interpreter.id) {
      const index = this.placeInterpreter(this.interpreter, requesterIndex);
      this.addAlias(index, name);
      return { kind: "object", index };
    }
    const same = this.identity.get(id);
    if (same !== undefined) return this.reuse(same, name, requesterIndex);
    return this.add(name, result, requester, requesterIndex, preload ? "preload" : result.via, id);
  }

  /** The object loaded under `name` (its name, path, an alias or its SONAME); looks, never records. */
  private findLoadedGlibc(name: string): Loaded | null {
    for (const object of this.graph.objects) {
      if (object.index === 0 && this.graph.mode === "program" && name === "") continue;
      if (object.name === name || object.path === name || object.aliases.includes(name) || object.soname === name) return { kind: "object", index: object.index };
    }
    const interp = this.interpreter;
    if (interp && !interp.placed && (interp.node.object.name === name || interp.node.object.aliases.includes(name))) return { kind: "unplaced-interpreter", interpreter: interp };
    return null;
  }

  private mapMusl(ctx: MuslSearchContext, name: string, requester: Node, requesterIndex: number, preload: boolean): Mapped {
    if (name === "") return preload ? { kind: "ignored" } : this.fail(name, requesterIndex, [], "Invalid argument");
    // Names reserved for libc itself resolve to the loader (reported once per name group in ldd mode).
    const group = muslReservedGroup(name);
    if (group !== null || name === this.config.interpreter) {
      if (group !== null && !this.reportedMuslGroups.has(group)) {
        this.reportedMuslGroups.add(group);
        this.graph.chain.push({ kind: "musl-libc", name });
      }
      if (!this.interpreter) return this.fail(name, requesterIndex, [], `the loader ${this.config.interpreter} is missing`);
      const index = this.placeInterpreterQuietly(this.interpreter, requesterIndex);
      this.addAlias(index, name);
      return { kind: "object", index };
    }
    let result: SearchResult;
    if (name.includes("/")) {
      result = openMuslPath(ctx, name);
    } else {
      const loaded = this.shortnames.get(name);
      if (loaded !== undefined) return this.reuse(loaded, null, requesterIndex);
      result = searchMusl(ctx, name, preload ? null : requester);
    }
    if (result.kind === "missing") return preload ? { kind: "ignored" } : this.fail(name, requesterIndex, result.attempts, result.fatal, true);
    const id = fileIdentity(result.file.stats);
    if (this.interpreter && id === this.interpreter.id) return { kind: "object", index: this.placeInterpreterQuietly(this.interpreter, requesterIndex) };
    const same = this.identity.get(id);
    if (same !== undefined) {
      // "previously loaded with a pathname but a search found the same inode": give it a shortname.
      const object = this.object(same);
      if (!name.includes("/") && ![...this.shortnames.values()].includes(same)) this.shortnames.set(object.path.slice(object.path.lastIndexOf("/") + 1), same);
      return this.reuse(same, null, requesterIndex);
    }
    const mapped = this.add(name, result, requester, requesterIndex, preload ? "preload" : result.via, id);
    if (!name.includes("/") && mapped.kind === "object") this.shortnames.set(name, mapped.index);
    return mapped;
  }

  /** musl links the loader into the list without printing a line for it. */
  private placeInterpreterQuietly(interpreter: Interpreter, requesterIndex: number): number {
    const before = this.graph.chain.length;
    const index = this.placeInterpreter(interpreter, requesterIndex);
    if (this.graph.chain.length > before) this.graph.chain = this.graph.chain.filter((e) => !(e.kind === "object" && e.index === index));
    return index;
  }

  /** An object already in the list, asked for again (under `name`, which it now answers to). */
  private reuse(index: number, name: string | null, requesterIndex: number): Mapped {
    const object = this.object(index);
    if (name !== null) this.addAlias(index, name);
    if (index !== 0 && !object.requestedBy.includes(requesterIndex)) object.requestedBy.push(requesterIndex);
    return { kind: "object", index };
  }

  /** The object at `index` in the load list, which only ever grows. */
  private object(index: number): LoadedObject {
    return present(this.graph.objects[index], `loaded object ${index}`);
  }
  private addAlias(index: number, name: string): void {
    const object = this.object(index);
    if (object.name !== name && object.path !== name && !object.aliases.includes(name)) object.aliases.push(name);
  }

  private add(name: string, found: Found, requester: Node, requesterIndex: number, via: FoundBy, id: string): Mapped {
    let elf: ElfFile;
    try {
      elf = this.loader.readObject(found.file.path);
    } catch (error) {
      const detail = error instanceof ElfError ? error.detail : String(error);
      return this.fail(name, requesterIndex, [...found.attempts, { path: found.path, via, rejection: "fatal", detail }], detail);
    }
    const index = this.graph.objects.length;
    const object: LoadedObject = {
      index,
      name,
      path: found.path,
      realPath: found.file.path,
      foundBy: via,
      searchDir: found.searchDir,
      loader: requesterIndex,
      requestedBy: [requesterIndex],
      aliases: [],
      ...elfFields(elf),
      variants: found.variants,
      attempts: found.attempts,
      edges: [],
    };
    // musl ignores DT_SONAME; so does nothing else here.
    if (this.strategy.flavour === "musl") object.soname = null;
    this.graph.objects.push(object);
    this.nodes.push({
      object,
      rpath: object.rpath,
      runpath: object.runpath,
      nodeflib: object.nodeflib,
      origin: originOfFoundPath(found.path, this.cwd),
      loader: requester,
      isMain: false,
    });
    this.identity.set(id, index);
    this.graph.chain.push({ kind: "object", index });
    return { kind: "object", index };
  }

  /** Records a miss. `musl`: reported and gone past, as musl does; else glibc's (a fatal one ends the load). */
  private fail(name: string, requesterIndex: number, attempts: Attempt[], fatal: string | null, musl = false): Mapped {
    const missing: MissingObject = { index: this.graph.missing.length, name, requestedBy: requesterIndex, attempts, fatal };
    this.graph.missing.push(missing);
    if (fatal !== null && !musl) {
      // glibc gives up on the whole program, naming the file it was verifying (open_verify's
      // _dl_signal_error) or else the name; musl reports and goes on.
      const last = attempts[attempts.length - 1];
      this.graph.error = `${last?.rejection === "fatal" ? last.path : name}: ${fatal}`;
    } else if (!musl) {
      this.graph.chain.push({ kind: "missing", index: missing.index });
    }
    return { kind: "missing", index: missing.index };
  }

  /**
   * DT_AUDIT / DT_DEPAUDIT of the main program: each module is loaded with dlmopen(LM_ID_NEWLM),
   * in a namespace of its own with its own copies of its dependencies (rtld.c, glibc >= 2.32).
   */
  private loadAudit(name: string): void {
    const main = this.mainNode;
    if (this.strategy.flavour !== "glibc") return;
    const ctx = this.strategy.ctx;
    const result = name.includes("/") ? openGlibcPath(ctx, name, main) : searchGlibc(ctx, name, main);
    if (result.kind === "missing") {
      // The loader reports an audit module that cannot be loaded and goes on without it.
      this.graph.missing.push({ index: this.graph.missing.length, name, requestedBy: 0, attempts: result.attempts, fatal: null });
      return;
    }
    try {
      this.graph.audit.push(this.loader.load(result.path, { mode: "library" }));
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      this.graph.missing.push({ index: this.graph.missing.length, name, requestedBy: 0, attempts: result.attempts, fatal: error.problem });
    }
  }
}

/** What a loaded object record takes from its ELF file. */
function elfFields(elf: ElfFile): Pick<LoadedObject, "soname" | "needed" | "filtees" | "auxiliary" | "rpath" | "runpath" | "nodeflib" | "machine"> {
  const d = elf.dynamic;
  return {
    soname: d?.soname ?? null,
    needed: d?.needed ?? [],
    filtees: d ? [...d.filter, ...d.auxiliary] : [],
    auxiliary: d?.auxiliary ?? [],
    rpath: d?.rpath ?? null,
    runpath: d?.runpath ?? null,
    nodeflib: hasNodeflib(d),
    machine: elf.header.machine,
  };
}

/** musl's reserved names: "lib" + one of c, pthread, rt, m, dl, util, xnet + "." */
function muslReservedGroup(name: string): string | null {
  if (!name.startsWith("lib")) return null;
  for (const group of ["c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet."]) if (name.startsWith(group, 3)) return group;
  return null;
}
