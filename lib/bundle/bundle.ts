// The bundling pipeline, magicpak's order: resolve the inputs and their closures, bundle the
// executables, --mkdir, --include, --exclude, --test, then emit. Nothing is written to OUTPUT
// until the plan is complete and the test has passed.

import { mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { directoryDestinationProblem, fileDestinationProblem, parentProblem } from "../destination.js";
import { describeIoError } from "../errors.js";
import { dirname, isAbsolute, join, posix, resolve as resolveHost } from "node:path";
import { RootFs, fileIdentity } from "../fs/root.js";
import { FileGraph, GraphConflictError, type FileNode, type Reason } from "../graph/file-graph.js";
import { childPath } from "../graph/paths.js";
import { compressFile, CompressError, warmUpUpx } from "../compress/upx.js";
import { appletShadows, testInJail, JailError, type JailTest } from "../jail/jail.js";
import { makeTempDir } from "../cleanup.js";
import { InputError, Loader, type TargetEnvironment } from "../loader/load.js";
import type { LoadGraph } from "../loader/model.js";
import { addDirectoryChain, addFromRoot, addSymlinkAsIs, fileNode, imageLinkTarget, openedPath } from "./collect.js";
import { isDynamicElf, readElfOrNull } from "./elf.js";
import { findOnPath } from "../fs/which.js";
import { DEFAULT_PATH } from "../image/config.js";
import { hostAbi } from "../loader/machines.js";
import { runWorkload, type WorkloadAccess, type WorkloadRun } from "../trace/workload.js";
import { ScriptError, findInRootPath, scriptChain } from "./script.js";
import { spawnSync } from "node:child_process";
import { emitBundle } from "./emit.js";
import { BundleError } from "./errors.js";
import { expandGlob, isExcluded } from "./glob.js";
import { addRuntimeExtras, type ExtrasOptions } from "./extras.js";
import type { Logger } from "./log.js";
import { formatBytes, silentProgress, type Progress } from "../report/progress.js";
import { imageDefaults, writeDockerArchive, writeOciArchive, writeOciLayout, type ImageOptions, type ImageResult } from "../image/index.js";
import { traceProgram, TracerUnavailable, type TracerChoice } from "../trace/index.js";
import { openPackageDatabase, readOsRelease, type PackageDatabase } from "../provenance/dpkg.js";
import { addPackageRecords } from "../provenance/records.js";
import { buildSbom, SBOM_MEDIA_TYPES, type SbomFormat } from "../provenance/sbom.js";
// Registers the native ptrace tracer when the optional addon loads; everything works without it.
import "../native/addon.js";

export interface BundleOptions {
  /** Executables, as paths inside the root (relative ones against `cwd`). */
  inputs: string[];
  /** The directory to write; absent or empty. Omit to plan only. */
  output?: string;
  /** Root filesystem to bundle from (default "/"). */
  root?: string;
  /** Working directory for relative inputs and patterns (default: this process's for "/", else "/"). */
  cwd?: string;
  include?: string[];
  exclude?: string[];
  mkdir?: string[];
  /** Where the input goes in the image; a trailing "/" appends the input's file name. */
  installTo?: string;
  /**
   * --dynamic: run each input once under a tracer and add every file it (or a process it started)
   * successfully opened, executed, stat'ed or read as a link; ELF files bring their closure.
   */
  dynamic?: { args?: string[]; stdin?: string; timeoutMs?: number; tracer?: TracerChoice };
  /**
   * --dynamic-test: the workload is traced and what its processes used is bundled. The --test
   * command (with its stdin; needs `test`) unless `testCommand` is false, then each of `commands`,
   * run by a harness shell (the --test busybox) under strace in the root (chroot for --root),
   * with PATH as the image's and `env`; killed after `timeoutMs` (default 300 s). Objects the run
   * loaded satisfy the DT_NEEDED of what it found; files it wrote are left out, the directories
   * it wrote in come as directories with the root's mode.
   */
  dynamicTest?: { testCommand?: boolean; commands?: string[]; env?: Record<string, string>; timeoutMs?: number };
  /**
   * --compress: each input executable is packed with UPX (built in as WebAssembly, or the native
   * upx given) after analysis and before the test, so the test runs the packed program.
   */
  compress?: { upxArgs?: string[]; upx?: string };
  /**
   * Container images of the bundle, written after the test passed: an OCI image layout, an OCI
   * archive and/or a Docker archive. Entrypoint and platform default to the first input's.
   */
  images?: { ociLayout?: string; ociArchive?: string; dockerArchive?: string; config?: Partial<ImageOptions> };
  /** Runtime extras: NSS, libgcc_s, .note.dlopen, gconv, CA certificates, passwd, /tmp, tzdata, ld.so.cache. */
  extras?: ExtrasOptions;
  /**
   * Package records for scanners (default true; --no-package-records): when the root has a dpkg
   * database, /var/lib/dpkg/status.d/<package> (+ <package>.md5sums) for each package the bundle's
   * files come from, and the root's /etc/os-release and /etc/debian_version as files.
   */
  packageRecords?: boolean;
  /**
   * --sbom: write the bundle's SBOM (SPDX 2.3 JSON, or CycloneDX 1.5 JSON) to `path` after the
   * test passed; OCI images get it attached as an artifact referring to the image manifest.
   */
  sbom?: { path: string; format?: SbomFormat };
  /** The target's environment (LD_LIBRARY_PATH, LD_PRELOAD), never this process's. */
  environment?: Pick<TargetEnvironment, "libraryPath" | "preload">;
  test?: {
    /** Default: each input's file name. */
    command?: string;
    stdin?: string;
    stdout?: string;
    /** A static busybox of the inputs' architecture or this machine's (default: found on PATH, see JailOptions). */
    busybox?: string;
    /** The static qemu-user for inputs of another architecture (default: qemu-<arch>-static on PATH). */
    emulator?: string;
    /** Each test command is killed after this long, a test failure (default 300 000: five minutes). */
    timeoutMs?: number;
    /** "none" (default): the jail has only loopback; "host": it shares the host's network. */
    network?: "none" | "host";
  };
  log?: Logger;
  /**
   * Steps with counts and bytes for a person watching (lib/report/progress.ts); none by default.
   * Pass what `log` writes through its around(), so that no message lands inside a step's line.
   */
  progress?: Progress;
}

export interface BundleResult {
  graph: FileGraph;
  /** The load graph of each input. */
  loads: LoadGraph[];
  output: string | null;
  /** The root's package database (null when it has none): which package each file comes from. */
  packages: PackageDatabase | null;
}

export async function bundle(options: BundleOptions): Promise<BundleResult> {
  const progress = options.progress ?? silentProgress;
  try {
    return await bundleWith(options, progress);
  } finally {
    progress.close();
  }
}

async function bundleWith(options: BundleOptions, progress: Progress): Promise<BundleResult> {
  const log: Logger = options.log ?? (() => undefined);
  if (options.inputs.length === 0) throw new BundleError("<INPUT>", "at least one input is required");
  const rootDir = options.root ?? "/";
  checkRoot(rootDir);
  // Every destination is checked before the analysis, so a bad one costs nothing and writes nothing.
  checkDestinations(options);
  const root = new RootFs(rootDir);
  if (options.compress && options.compress.upx === undefined) void warmUpUpx(); // start UPX while the inputs are analysed
  const cwd = options.cwd ?? (root.isHostRoot ? process.cwd() : "/");
  const loader = new Loader(root, { ...options.environment, cwd });
  const graph = new FileGraph();
  const loads: LoadGraph[] = [];
  const inputs = options.inputs.map((i) => (posix.isAbsolute(i) ? i : posix.join(cwd, i)));
  let packages: PackageDatabase | null = null;
  try {
    // 1-2. Each input's shared-object closure, then the executable itself.
    // A script brings its "#!" interpreters (and env's program), the last one's closure is its load.
    for (const path of inputs) {
      log("Info", `bundle shared object dependencies of ${path}`);
      loads.push(addRunnable(graph, root, loader, path, log));
      placeExecutable(graph, root, path, options.installTo);
    }
    // --dynamic, for each input (magicpak's step 3, so --exclude applies to what it finds).
    if (options.dynamic) {
      for (const [i, path] of inputs.entries()) {
        const step = progress.step(`trace a run of ${path} (--dynamic)`, [i + 1, inputs.length]);
        step.done(`${await addDynamicAccesses(graph, root, loader, path, options.dynamic, log)} file accesses`);
      }
    }
    // --dynamic-test: the test command and --dynamic-command, as workloads.
    if (options.dynamicTest) await addWorkloads(graph, root, loader, loads, options, log, progress);
    // 3. --mkdir
    for (const dir of options.mkdir ?? []) {
      const path = posix.normalize(`/${dir}`).replace(/\/+$/, "") || "/";
      log("Info", `make directory ${path}`);
      // /tmp and /var/tmp are world-writable and sticky in every container image.
      const mode = path === "/tmp" || path === "/var/tmp" ? 0o1777 : 0o755;
      graph.add({ kind: "directory", path: graph.resolveInGraph(path), mode, reasons: [{ kind: "mkdir" }] });
    }
    // 4. --include: files, symlinks and directories; ELF files bring their own closure.
    for (const pattern of options.include ?? []) {
      const matches = expandGlob(root, pattern, cwd);
      if (matches.length === 0) log("Warn", `--include ${pattern} matched nothing`);
      const literal = matches.length === 1 && matches[0] === (posix.isAbsolute(pattern) ? pattern : posix.join(cwd, pattern));
      for (const match of matches) {
        log("Info", `include ${match}`);
        const reason: Reason = { kind: "include", pattern };
        if (!literal && !root.tryResolve(match) && root.readlink(match) !== null) {
          // A wildcard matched a dangling or looping symlink: keep the link as the root has it.
          log("Warn", `${match} is a symlink that does not resolve in the root; kept as a link`);
          addSymlinkAsIs(graph, root, match, reason);
          continue;
        }
        const file = addFromRoot(graph, root, match, reason, { recursive: true });
        // ELF files matched, directly or inside a matched directory, bring their own closure.
        const files = file.stats.isDirectory()
          ? graph.entries().filter((n) => n.kind === "file" && n.path.startsWith(`${file.path}/`)).map((n) => n.path)
          : [file.path];
        for (const path of files) {
          if (isDynamicElf(root, path)) loads.push(addClosure(graph, root, loader, path));
        }
      }
    }
    // Files no DT_NEEDED names: NSS, libgcc_s, dlopen notes, and the extras asked for.
    addRuntimeExtras(graph, root, loader, loads, options.extras ?? {}, log);
    // 5. --exclude: any entry, also those that came in as symlink targets.
    for (const pattern of options.exclude ?? []) {
      for (const node of graph.entries()) {
        if (isExcluded(node.path, pattern)) {
          log("Info", `exclude ${node.path}`);
          graph.remove(node.path);
        }
      }
    }
    // Package records for scanners, for what the bundle finally holds.
    packages = openPackageDatabase(root);
    if (packages && options.packageRecords !== false) {
      addPackageRecords(graph, root, packages, log);
      // --exclude applies to the records too (they are made from what it left).
      for (const pattern of options.exclude ?? []) {
        for (const node of graph.entries()) if (isExcluded(node.path, pattern)) graph.remove(node.path);
      }
    }
    else if (!packages) log("Info", "the root has no dpkg database (/var/lib/dpkg/status): no package records");
  } catch (error) {
    throw asBundleError(error);
  }
  // --compress: the input executables only, as magicpak does (never the libraries).
  // The scratch directory is registered for removal on SIGINT/SIGTERM (lib/cleanup.ts).
  const scratch = options.compress ? makeTempDir("magicpak-upx-") : null;
  try {
    if (options.compress) await compressInputs(graph, root, inputs, options.compress, scratch!.dir, log, progress);
    return await testAndEmit(graph, loads, inputs, options, log, root, packages, progress);
  } finally {
    scratch?.remove();
  }
}

async function testAndEmit(graph: FileGraph, loads: LoadGraph[], inputs: string[], options: BundleOptions, log: Logger, root: RootFs, packages: PackageDatabase | null, progress: Progress): Promise<BundleResult> {
  // 6. --test, in a jail built from the plan.
  if (options.test) {
    const tests: JailTest[] = options.test.command !== undefined
      ? [{ command: options.test.command, stdin: options.test.stdin, expectedStdout: options.test.stdout }]
      : options.inputs.map((input) => ({ command: posix.basename(input), stdin: options.test!.stdin, expectedStdout: options.test!.stdout }));
    log("Info", `test the bundle: ${tests.map((t) => t.command).join("; ")}`);
    // The inputs' architecture (their loads come first): another than this machine's is emulated.
    const architectures = loads.slice(0, options.inputs.length).map((load) => load.abi);
    const { busybox, emulator, timeoutMs, network } = options.test;
    const step = progress.step(`test the bundle in a jail: ${tests.map((t) => t.command).join("; ")}`);
    try {
      const isolation = await testInJail(graph, tests, {
        ...(busybox !== undefined ? { busybox } : {}),
        ...(emulator !== undefined ? { emulator } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(network !== undefined ? { network } : {}),
        architectures,
        warn: (message) => log("Warn", message),
      });
      log("Info", `the test passed (jail isolation: ${isolation})`);
      step.done("passed");
    } catch (error) {
      // A jail that could not be built is a bundle error; a TestFailure is the program's.
      if (error instanceof JailError) throw new BundleError(error.path, error.problem);
      throw error;
    }
  }
  // 7. Emit.
  let output: string | null = null;
  if (options.output !== undefined) {
    output = isAbsolute(options.output) ? options.output : resolveHost(options.output);
    log("Info", `emit the bundle to ${output}`);
    const files = graph.entries().filter((n) => n.kind === "file" || n.kind === "generated");
    const bytes = files.reduce((sum, f) => sum + (f.kind === "file" ? f.size : f.content.length), 0);
    const step = progress.step(`emit ${graph.size} entries to ${output}`);
    try {
      emitBundle(graph, options.output);
      step.done(`${files.length} files, ${formatBytes(bytes)}`);
    } catch (error) {
      throw asBundleError(error);
    }
  }
  // The SBOM, of the same tested plan.
  let sbom: Buffer | null = null;
  if (options.sbom) {
    const format = options.sbom.format ?? "spdx";
    if (format !== "spdx" && format !== "cyclonedx") throw new BundleError("--sbom-format", `must be spdx or cyclonedx (got ${JSON.stringify(format)})`);
    sbom = buildSbom(graph, root, packages, readOsRelease(root), { format, name: `magicpak bundle of ${inputs.map((i) => posix.basename(i)).join(", ")}` });
    const path = resolveHost(options.sbom.path);
    const partial = `${path}.magicpak-partial`;
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(partial, sbom, { mode: 0o644 });
      renameSync(partial, path);
    } catch (error) {
      rmSync(partial, { force: true });
      throw new BundleError(options.sbom.path, `cannot write the SBOM: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    log("Info", `SBOM (${format}) ${path}: ${sbom.length} bytes`);
  }
  // Images, from the same tested plan.
  const images = options.images;
  if (images && (images.ociLayout || images.ociArchive || images.dockerArchive)) {
    const input = inputs[0]!;
    const defaults = imageDefaults(graph, input);
    // With --install-to the image runs the program by the path the user chose (/bin/ + name).
    const entrypoint = options.installTo !== undefined ? [installPath(options.installTo, input)] : defaults.entrypoint;
    const config: ImageOptions = { ...defaults, entrypoint, ...images.config } as ImageOptions;
    if (sbom) {
      const type = SBOM_MEDIA_TYPES[options.sbom!.format ?? "spdx"];
      config.attachments = [...(config.attachments ?? []), { artifactType: type, mediaType: type, content: sbom }];
    }
    const written: [string | undefined, (g: FileGraph, p: string, o: ImageOptions) => Promise<ImageResult>, string][] = [
      [images.ociLayout, writeOciLayout, "OCI image layout"],
      [images.ociArchive, writeOciArchive, "OCI archive"],
      [images.dockerArchive, writeDockerArchive, "Docker archive"],
    ];
    for (const [path, write, what] of written) {
      if (!path) continue;
      const step = progress.step(`write the ${what} ${path}`);
      const result = await write(graph, path, config);
      step.done(result.digest);
      log("Info", `${what} ${path}: ${result.digest}`);
    }
  }
  return { graph, loads, output, packages };
}

/** The image path of an input installed with --install-to (a trailing "/" appends its name). */
function installPath(installTo: string, input: string): string {
  const wanted = posix.normalize(posix.isAbsolute(installTo) ? installTo : `/${installTo}`);
  return installTo.endsWith("/") ? posix.join(wanted, posix.basename(input)) : wanted;
}

/**
 * What executing `path` needs: for a script, each "#!" interpreter of its chain (and the program
 * `#!/usr/bin/env NAME` runs, with what it needs in turn), then the closure of the ELF file that
 * finally runs, whose load graph is returned. The file itself is not added.
 */
function addRunnable(graph: FileGraph, root: RootFs, loader: Loader, path: string, log: Logger, depth = 0): LoadGraph {
  let chain;
  try {
    chain = root.tryResolve(path)?.stats.isFile() ? scriptChain(root, path) : [];
  } catch (error) {
    if (error instanceof ScriptError) throw new BundleError(path, error.message);
    throw error;
  }
  for (const step of chain) {
    log("Info", `${step.script} is a script (${step.line}): bundle ${step.interpreter}`);
    addFromRoot(graph, root, step.path, { kind: "interpreter-script", script: step.script, line: step.line });
    if (step.program) {
      if (depth > 4) throw new BundleError(path, `too many levels of #!/usr/bin/env programs`);
      addFromRoot(graph, root, step.program.path, { kind: "env-program", script: step.script, name: step.program.name });
      addRunnable(graph, root, loader, step.program.path, log, depth + 1);
    }
  }
  return addClosure(graph, root, loader, chain.length ? chain[chain.length - 1]!.interpreter : path);
}

/**
 * Loads `path` and adds its interpreter and every library, at the paths the loader opens them by.
 * A soname in `loaded` (objects a traced run had loaded) is no error when missing: the run had it.
 */
function addClosure(graph: FileGraph, root: RootFs, loader: Loader, path: string, loaded?: Set<string>): LoadGraph {
  let load: LoadGraph;
  try {
    load = loader.load(path);
  } catch (error) {
    if (error instanceof InputError) throw new BundleError(error.path, error.problem);
    throw error;
  }
  if (load.error) throw new BundleError(path, `cannot be loaded: ${load.error}`);
  const missing = load.missing.find((m) => !loaded?.has(m.name));
  if (missing) {
    const by = load.objects[missing.requestedBy];
    const tried = missing.attempts.map((a) => a.path).join(", ");
    throw new BundleError(path, `${missing.name} not found (needed by ${by?.index === 0 ? path : by?.realPath})${tried ? `; tried ${tried}` : ""}`);
  }
  addLoadedObjects(graph, root, load, path);
  // Audit modules, each with its own copies of its dependencies.
  for (const audit of load.audit) {
    addFromRoot(graph, root, audit.input, { kind: "audit", name: audit.input });
    addLoadedObjects(graph, root, audit, audit.input);
  }
  return load;
}

/** Replaces each input's file in the plan by its UPX-packed copy (every path that is that file). */
async function compressInputs(graph: FileGraph, root: RootFs, inputs: string[], compress: NonNullable<BundleOptions["compress"]>, scratch: string, log: Logger, progress: Progress): Promise<void> {
  for (const [i, input] of inputs.entries()) {
    const file = root.resolve(input);
    const identity = fileIdentity(file.stats);
    const nodes = graph.entries().filter((n): n is FileNode => n.kind === "file" && n.identity === identity);
    if (nodes.length === 0) continue; // excluded
    const packed = join(scratch, `${i}-${posix.basename(file.path)}`);
    log("Info", `compress ${input} with ${compress.upx ?? "the built-in UPX"}${compress.upxArgs?.length ? ` ${compress.upxArgs.join(" ")}` : ""}`);
    const step = progress.step(`compress ${input} with UPX (${formatBytes(file.stats.size)})`, [i + 1, inputs.length]);
    let result;
    try {
      result = await compressFile(file.hostPath, packed, compress.upxArgs ?? [], { upx: compress.upx });
    } catch (error) {
      if (error instanceof CompressError) throw new BundleError(input, `cannot be compressed: ${error.reason}`);
      throw error;
    }
    log("Info", `${input}: ${result.inputSize} -> ${result.outputSize} bytes`);
    step.done(`${formatBytes(result.inputSize)} -> ${formatBytes(result.outputSize)}`);
    // The plan keeps the packed bytes: the scratch directory is removed when bundle() returns.
    const content = readFileSync(packed);
    for (const node of nodes) {
      graph.remove(node.path);
      graph.add({ ...node, content, size: result.outputSize, identity: `upx:${identity}`, reasons: [...node.reasons, { kind: "extra", what: "compressed with UPX" }] });
    }
  }
}

/**
 * Files the traced run of `input` used: /proc, /sys and /dev are the kernel's, never bundled.
 * Returns how many file accesses the run made.
 */
async function addDynamicAccesses(graph: FileGraph, root: RootFs, loader: Loader, input: string, dynamic: NonNullable<BundleOptions["dynamic"]>, log: Logger): Promise<number> {
  log("Info", `trace a run of ${input}${dynamic.args?.length ? ` ${dynamic.args.join(" ")}` : ""}`);
  let result;
  try {
    const request = { argv: [input, ...(dynamic.args ?? [])], stdin: dynamic.stdin, timeoutMs: dynamic.timeoutMs };
    // The kernel reports descriptors by their real host paths: give the tracer the root's real path.
    result = await traceProgram(root.isHostRoot ? request : { ...request, root: realpathSync(root.root) }, dynamic.tracer);
  } catch (error) {
    if (error instanceof TracerUnavailable) throw new BundleError("--dynamic", error.message);
    throw error;
  }
  log("Debug", `${result.tracer} recorded ${result.accesses.length} file accesses`);
  if (result.status !== 0) {
    const why = result.signal ? `was killed by ${result.signal}` : `exited with ${result.status}`;
    throw new BundleError(input, `the --dynamic run ${why}${result.stderr.trim() ? `: ${result.stderr.trim()}` : ""}`);
  }
  const self = root.tryResolve(input)?.path;
  const seen = new Set<string>();
  for (const access of result.accesses) {
    const path = access.path;
    if (seen.has(path) || isKernelPath(path)) continue;
    seen.add(path);
    const file = root.tryResolve(path);
    if (!file?.stats.isFile() || file.path === self || isKernelPath(file.path)) continue;
    log("Debug", `dynamic: ${access.syscall} ${path}`);
    addFromRoot(graph, root, path, { kind: "dynamic", by: input });
    if (isDynamicElf(root, file.path)) addClosure(graph, root, loader, path);
  }
  return result.accesses.length;
}

/** The workloads of --dynamic-test, each run traced; what their processes used is added. */
async function addWorkloads(graph: FileGraph, root: RootFs, loader: Loader, loads: LoadGraph[], options: BundleOptions, log: Logger, progress: Progress): Promise<void> {
  const dynamic = options.dynamicTest!;
  const host = hostAbi()?.name ?? null;
  const foreign = loads.slice(0, options.inputs.length).find((l) => l.abi !== null && l.abi !== host);
  if (foreign) throw new BundleError("--dynamic-test", `tracing a workload of another architecture (${foreign.abi}) is not supported yet`);
  const workloads: { command: string; stdin?: string }[] = [];
  if (dynamic.testCommand !== false) {
    if (!options.test) throw new BundleError("--dynamic-test", "needs --test: the test command is the workload (or give --dynamic-command)");
    if (options.test.command !== undefined) workloads.push({ command: options.test.command, stdin: options.test.stdin });
    else for (const input of options.inputs) workloads.push({ command: posix.basename(input), stdin: options.test.stdin });
  }
  for (const command of dynamic.commands ?? []) workloads.push({ command });
  const busybox = options.test?.busybox ?? findOnPath("busybox");
  if (!busybox) throw new BundleError("--dynamic-test", "needs a static busybox for the harness shell (--busybox, or busybox on PATH)");
  const timeoutMs = dynamic.timeoutMs ?? 300_000;
  const preamble = rootProgramsFirst(root, busybox);
  for (const [i, workload] of workloads.entries()) {
    log("Info", `trace the workload ${JSON.stringify(workload.command)}`);
    const step = progress.step(`trace the workload ${JSON.stringify(workload.command)} (--dynamic-test)`, [i + 1, workloads.length]);
    let run: WorkloadRun;
    try {
      run = await runWorkload({
        command: preamble + workload.command,
        stdin: workload.stdin,
        env: { PATH: DEFAULT_PATH.slice("PATH=".length), HOME: "/", ...dynamic.env },
        root: root.isHostRoot ? undefined : realpathSync(root.root),
        busybox,
        timeoutMs,
      });
    } catch (error) {
      if (error instanceof TracerUnavailable) throw new BundleError("--dynamic-test", error.message);
      throw error;
    }
    if (run.timedOut) throw new BundleError(workload.command, `the --dynamic-test workload did not end within ${timeoutMs / 1000} s: every process of it was killed`);
    if (run.leftovers.length) log("Warn", `--dynamic-test ${JSON.stringify(workload.command)}: killed what was still running when the command ended: ${run.leftovers.join(", ")}`);
    if (run.status !== 0) {
      const why = run.signal ? `was killed by ${run.signal}` : `exited with ${run.status}`;
      throw new BundleError(workload.command, `the --dynamic-test workload ${why}${run.stderr.trim() ? `: ${run.stderr.trim()}` : ""}`);
    }
    log("Debug", `the workload's processes made ${run.accesses.length} file accesses`);
    step.done(`${run.accesses.length} file accesses`);
    addWorkloadAccesses(graph, root, loader, workload.command, run.accesses, log);
  }
}

/**
 * Shell functions that make the root's programs win over the harness busybox's applets (its sh
 * runs an applet before any program on PATH), as the --test jail does for the bundle's: one per
 * applet name that PATH finds in the root.
 */
function rootProgramsFirst(root: RootFs, busybox: string): string {
  const list = spawnSync(busybox, ["--list"], { encoding: "utf8" });
  if (list.status !== 0) throw new BundleError(busybox, `--list failed: is it a static busybox? ${String(list.stderr ?? list.error?.message ?? "").trim()}`);
  return appletShadows(list.stdout, (name) => findInRootPath(root, name));
}

/** What a workload's processes used: files read (ELF files with their closure), directories written in. */
export function addWorkloadAccesses(graph: FileGraph, root: RootFs, loader: Loader, by: string, accesses: WorkloadAccess[], log: Logger): void {
  const written = new Set<string>();
  const created: string[] = [];
  for (const a of accesses) {
    if (!a.writes) continue;
    written.add(a.path);
    if (a.syscall === "mkdir" || a.syscall === "mkdirat") created.push(a.path);
  }
  const madeByWorkload = (path: string) => written.has(path) || created.some((dir) => path.startsWith(`${dir}/`));
  // The run's own loaded objects, by SONAME and by file name: they satisfy DT_NEEDED as the loader would.
  const loaded = new Set<string>();
  const files: { access: WorkloadAccess; path: string }[] = [];
  const seen = new Set<string>();
  for (const access of accesses) {
    if (access.writes || seen.has(access.path) || isKernelPath(access.path) || madeByWorkload(access.path)) continue;
    seen.add(access.path);
    const file = root.tryResolve(access.path);
    if (!file?.stats.isFile() || isKernelPath(file.path)) continue;
    files.push({ access, path: file.path });
    if (access.syscall.startsWith("open")) {
      const soname = readElfOrNull(root, file.path)?.dynamic?.soname;
      if (soname) loaded.add(soname);
      loaded.add(posix.basename(access.path));
    }
  }
  for (const { access, path } of files) {
    log("Debug", `dynamic-test: pid ${access.pid} (${access.exe}) ${access.syscall} ${access.path}`);
    addFromRoot(graph, root, access.path, { kind: "dynamic", by, pid: access.pid, exe: access.exe, syscall: access.syscall, path: access.path });
    if (isDynamicElf(root, path)) addClosure(graph, root, loader, access.path, loaded);
  }
  // Directories the workload created files in: the nearest one the root has, with its mode.
  const dirs = new Map<string, WorkloadAccess>();
  for (const a of accesses) {
    if (!a.writes || isKernelPath(a.path)) continue;
    let dir = posix.dirname(a.path);
    while (dir !== "/" && madeByWorkload(dir)) dir = posix.dirname(dir);
    if (dir !== "/" && !isKernelPath(dir) && !dirs.has(dir)) dirs.set(dir, a);
  }
  for (const [dir, a] of dirs) {
    const found = root.tryResolve(dir);
    if (!found?.stats.isDirectory()) continue;
    const at = addDirectoryChain(graph, root, dir);
    log("Debug", `dynamic-test: directory ${at} (pid ${a.pid} ${a.exe} wrote ${a.path})`);
    graph.add({ kind: "directory", path: graph.resolveInGraph(at), mode: found.stats.mode & 0o7777, reasons: [{ kind: "dynamic-directory", by, pid: a.pid, exe: a.exe, path: a.path }] });
  }
}

/** The interpreter and every object of a load graph but its main one, with the reason each is there. */
function addLoadedObjects(graph: FileGraph, root: RootFs, load: LoadGraph, path: string): void {
  if (load.interpreter) addFromRoot(graph, root, load.interpreter, { kind: "interpreter", of: path });
  for (const object of load.objects.slice(1)) {
    const requester = load.objects[object.loader ?? 0];
    const why: Reason =
      object.foundBy === "interpreter"
        ? { kind: "interpreter", of: path }
        : object.foundBy === "preload"
          ? { kind: "preload", name: object.name }
          : { kind: "needed", by: requester?.index === 0 ? path : (requester?.realPath ?? path), name: object.name };
    addFromRoot(graph, root, openedPath(object), why);
    // Another CPU may pick another glibc-hwcaps variant: bring them all.
    for (const variant of object.variants) addFromRoot(graph, root, variant, why);
  }
}

/** The input goes at --install-to (a trailing "/" appends its name), or at its own path. */
function placeExecutable(graph: FileGraph, root: RootFs, input: string, installTo: string | undefined): void {
  const reason: Reason = { kind: "input", path: input };
  if (installTo === undefined) {
    addFromRoot(graph, root, input, reason);
    return;
  }
  const wanted = installPath(installTo, input);
  // Where the root has the install directory (/bin -> usr/bin), the image gets the same chain.
  const dir = addDirectoryChain(graph, root, graph.resolveInGraph(posix.dirname(wanted)));
  const at = graph.resolveInGraph(childPath(dir, posix.basename(wanted)));
  const link = root.lookup(input, "/", false);
  if (!(link instanceof Error) && link.stats.isSymbolicLink()) {
    // A symlinked input stays a symlink, so its $ORIGIN is the same in the image as on the host.
    const target = root.readlink(input)!;
    const absoluteTarget = target.startsWith("/") ? target : posix.join(posix.dirname(link.path), target);
    graph.add({ kind: "symlink", path: at, target: imageLinkTarget(at, absoluteTarget), mode: 0o777, reasons: [reason] });
    addFromRoot(graph, root, absoluteTarget, reason);
    return;
  }
  graph.add(fileNode(at, root.resolve(input), reason));
}

/** --root must be a directory; named when it is not. */
function checkRoot(rootDir: string): void {
  try {
    if (!statSync(rootDir).isDirectory()) throw new BundleError(rootDir, "--root: Not a directory");
  } catch (error) {
    if (error instanceof BundleError) throw error;
    throw new BundleError(rootDir, `--root: ${describeIoError(error)}`);
  }
}

/** OUTPUT and the image destinations: each must be writable and of the right kind, before anything is written. */
function checkDestinations(options: BundleOptions): void {
  const wanted: [string | undefined, "directory" | "file"][] = [
    [options.output, "directory"],
    [options.images?.ociLayout, "directory"],
    [options.images?.ociArchive, "file"],
    [options.images?.dockerArchive, "file"],
  ];
  const seen = new Map<string, string>();
  for (const [given, kind] of wanted) {
    if (given === undefined || given === "") continue;
    const absolute = resolveHost(given);
    const other = seen.get(absolute);
    if (other !== undefined) throw new BundleError(given, `is also the destination ${other}`);
    seen.set(absolute, given);
    const problem = kind === "directory" ? directoryDestinationProblem(absolute) : fileDestinationProblem(absolute);
    if (problem) throw new BundleError(given, problem);
    const parent = parentProblem(absolute);
    if (parent) throw new BundleError(given, `${parent.path}: ${parent.problem}`);
  }
}

/** /proc, /sys and /dev are the kernel's: never bundled. */
function isKernelPath(path: string): boolean {
  return /^\/(proc|sys|dev)(\/|$)/.test(path);
}

function asBundleError(error: unknown): unknown {
  if (error instanceof GraphConflictError) return new BundleError(error.path, error.problem);
  return error;
}
