// The command line: a thin layer over the library. Exit codes: 0 success, 1 runtime error, 2 usage error.
//
//   magicpak [OPTIONS] <INPUT>... <OUTPUT>          bundle (magicpak 1.4.0's command line)
//   magicpak --list|--tree|--json [OPTIONS] FILE... list what the loader would load

import { cac } from "cac";
import type { BundleOptions } from "../lib/bundle/bundle.js";
import { BundleError } from "../lib/bundle/errors.js";
import type { LogLevel, Logger } from "../lib/bundle/log.js";
import { TestFailure } from "../lib/jail/errors.js";
import { findOnPath } from "../lib/fs/which.js";
import { ImageError } from "../lib/image/errors.js";
import type { TracerChoice } from "../lib/trace/index.js";
import { InputError, Loader } from "../lib/loader/load.js";
import type { LoadGraph } from "../lib/loader/model.js";
import { formatTrace, isComplete } from "../lib/report/trace.js";
import { formatTree } from "../lib/report/tree.js";
import { openPackageDatabase } from "../lib/provenance/dpkg.js";
import { formatPlan } from "../lib/report/plan.js";
import { VERSION } from "../lib/version.js";
import { installSignalCleanup } from "../lib/cleanup.js";
import { pathErrorOf, PathError } from "../lib/errors.js";
import { printable } from "../lib/report/printable.js";
import { terminalProgress } from "../lib/report/progress.js";

class UsageError extends Error {}

function testTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(seconds > 0)) throw new UsageError(`--test-timeout must be a positive number of seconds (got ${JSON.stringify(value)})`);
  return seconds * 1000;
}

function testNetwork(value: string | undefined): "none" | "host" | undefined {
  if (value === undefined || value === "none" || value === "host") return value;
  throw new UsageError(`--test-network must be none or host (got ${JSON.stringify(value)})`);
}

/** Options whose values may start with '-' (magicpak: allow_hyphen_values), one value each. */
const HYPHEN_VALUE_OPTIONS = new Set(["--dynamic-arg", "--dynamic-command", "--upx-arg", "--cmd"]);

/** Options that take a value (in the order their values are checked). */
const VALUE_OPTIONS = [
  "include",
  "exclude",
  "mkdir",
  "installTo",
  "logLevel",
  "testCommand",
  "testStdin",
  "testStdout",
  "testTimeout",
  "testNetwork",
  "dynamicStdin",
  "dynamicEnv",
  "dynamicTimeout",
  "tracer",
  "busybox",
  "emulator",
  "upx",
  "cc",
  "root",
  "libraryPath",
  "preload",
  "cwd",
  "resolver",
  "dlopenNotes",
  "oci",
  "ociArchive",
  "dockerArchive",
  "env",
  "workdir",
  "user",
  "label",
  "tag",
  "sbom",
  "sbomFormat",
  "fromImage",
  "platform",
] as const;
/** The value options that may be repeated; the others may be given once. */
const REPEATABLE_OPTIONS = ["include", "exclude", "mkdir", "env", "label", "root", "dynamicEnv"] as const;
const FLAG_OPTIONS = ["verbose", "explain", "test", "dynamic", "dynamicTest", "compress", "experimentalNoloadResolver", "list", "tree", "json", "help", "version", "nss", "passwd", "tmp", "caCertificates", "tzdata", "gconv", "packageRecords"] as const;

/** The command line's options, checked, by their camelCase names (the option parser's keys). */
interface Parsed {
  once: Partial<Record<Exclude<(typeof VALUE_OPTIONS)[number], (typeof REPEATABLE_OPTIONS)[number]>, string>>;
  repeated: Partial<Record<(typeof REPEATABLE_OPTIONS)[number], string[]>>;
  flags: Partial<Record<(typeof FLAG_OPTIONS)[number], boolean>>;
  /** The options whose values may start with '-', by their own name ("--dynamic-arg"), each as often as given. */
  hyphenValues: Record<string, string[]>;
}

/**
 * The whole program around main(), for bin/magicpak.js and the standalone binary (bin/sea.ts): a
 * closed pipe (`magicpak --list ... | head`) ends the run quietly, as for any Unix filter, and an
 * unexpected error is one line, never a stack trace (MAGICPAK_DEBUG=1 shows it).
 */
export async function runAsProgram(argv: string[]): Promise<void> {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
  installSignalCleanup(); // SIGINT/SIGTERM: kill the jail, remove temporary directories, exit 130/143
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    if (process.env["MAGICPAK_DEBUG"]) console.error(error);
    else console.error(`error: internal error: ${printable(String((error as Error | undefined)?.message ?? error))} (set MAGICPAK_DEBUG=1 for details)`);
    process.exitCode = 1;
  }
}

export async function main(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  // Every line is printable(): names from the root cannot forge lines or drive the terminal. JSON
  // (already escaped by JSON.stringify) is written raw.
  const write = (stream: NodeJS.WritableStream, text: string, raw = false) => {
    const line = text.endsWith("\n") ? text.slice(0, -1) : text;
    return stream.write(`${raw ? line : printable(line)}\n`);
  };
  try {
    const { options, paths } = parse(argv);
    if (options.flags.help) return 0;
    if (options.flags.version) {
      write(out, `magicpak ${VERSION} (node ${process.version}, ${process.platform}-${process.arch})`);
      write(out, `native addon: ${(await import("../lib/native/addon.js")).nativeStatus()}`);
      return 0;
    }
    const { list, tree, json } = options.flags;
    const modes = [list, tree, json].filter(Boolean).length;
    if (modes > 1) throw new UsageError("--list, --tree and --json cannot be combined");
    const resolver = options.once.resolver;
    if (resolver !== undefined && resolver !== "ts" && resolver !== "native") {
      throw new UsageError(`--resolver must be ts or native (got ${JSON.stringify(resolver)})`);
    }
    if (modes === 1) {
      if (resolver === "native") return await nativeListMode(paths, options, (t, raw) => write(out, t, raw), (t) => write(err, t));
      return listMode(paths, options, (t, raw) => write(out, t, raw), (t) => write(err, t));
    }
    return await bundleMode(paths, options, (t) => write(err, t));
  } catch (error) {
    if (error instanceof UsageError) {
      write(err, `error: ${error.message}`);
      return 2;
    }
    if (error instanceof BundleError || error instanceof InputError || error instanceof ImageError) {
      write(err, `error: ${error.message}`);
      return 1;
    }
    if (error instanceof TestFailure) {
      write(err, `error: test failed: ${error.message}`);
      return 1;
    }
    // Any other error about a path (an fs error carrying errno and path): one line, never "internal".
    const mapped = error instanceof PathError ? error : pathErrorOf(error);
    if (mapped) {
      write(err, `error: ${mapped.message}`);
      return 1;
    }
    throw error;
  }
}

/** The spellings of the value options (long and short) on the command line, by key. */
const VALUE_SPELLINGS = new Map<string, (typeof VALUE_OPTIONS)[number]>([
  ...VALUE_OPTIONS.map((key) => [`--${kebab(key)}`, key] as const),
  ["-i", "include"],
  ["-e", "exclude"],
  ["-r", "installTo"],
]);

function parse(argv: string[]): { options: Parsed; paths: string[] } {
  // Take the hyphen-valued options out first: the option parser would read "--help" as a flag.
  const hyphenValues: Record<string, string[]> = { "--dynamic-arg": [], "--dynamic-command": [], "--upx-arg": [], "--cmd": [] };
  // And the values of the other value options, verbatim: the option parser turns "007" into 7
  // and "true" into a flag.
  const values: Partial<Record<(typeof VALUE_OPTIONS)[number], string[]>> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const key = VALUE_SPELLINGS.get(name);
    if (HYPHEN_VALUE_OPTIONS.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`${name} requires a value`);
      hyphenValues[name]!.push(value);
    } else if (key !== undefined) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[i + 1];
      // As the option parser did: a following option is no value.
      if (value === undefined || (eq < 0 && value.length > 1 && value.startsWith("-"))) throw new UsageError(`--${kebab(key)} requires a value`);
      if (eq < 0) i++;
      (values[key] ??= []).push(value);
    } else if (arg === "--") {
      rest.push(...argv.slice(i));
      break;
    } else {
      rest.push(arg);
    }
  }
  const cli = cac("magicpak");
  const command = cli
    .command("[...paths]", "Bundle <INPUT>... and everything it needs at run time into <OUTPUT>")
    .usage("[OPTIONS] <INPUT>... <OUTPUT>\n       magicpak --list|--tree|--json [OPTIONS] <FILE>...");
  const strings = { type: [String] };
  command
    .option("-i, --include <GLOB>", "Additionally include files/directories matching GLOB (repeatable)", strings)
    .option("-e, --exclude <GLOB>", "Exclude files/directories matching GLOB (repeatable)", strings)
    .option("--mkdir <PATH>", "Make an empty directory at PATH in the bundle (repeatable; /tmp gets 1777)", strings)
    .option("-r, --install-to <PATH>", "Install the executable at PATH (a trailing / appends its file name)", strings)
    .option("--log-level <LEVEL>", "Off, Error, Warn, Info or Debug (default Warn)", strings)
    .option("-v, --verbose", "Same as --log-level Info (overrides it)")
    .option("-t, --test", "Test the bundle in a jail (chroot and namespaces) before writing it")
    .option("--test-command <COMMAND>", "Shell command run as /bin/sh -c COMMAND in the jail (default: the executable's name)", strings)
    .option("--test-stdin <CONTENT>", "Standard input of the test command", strings)
    .option("--test-stdout <CONTENT>", "Expected standard output of the test command (compared after trimming)", strings)
    .option("--test-timeout <SECONDS>", "Kill the test command after SECONDS, a test failure (default 300)", strings)
    .option("--test-network <MODE>", "none: the jail has only loopback (default); host: the host's network", strings)
    .option("-d, --dynamic", "Run the executable once under a tracer and include every file it uses")
    .option("--dynamic-arg <ARG>", "Argument for the --dynamic run (repeatable; may start with -)")
    .option("--dynamic-stdin <CONTENT>", "Standard input for the --dynamic run", strings)
    .option("--dynamic-test", "Trace the --test command as the workload (harness busybox, strace) and include what its processes use")
    .option("--dynamic-command <CMD>", "Another workload for --dynamic-test, run the same way (repeatable; may start with -)")
    .option("--dynamic-env <NAME=VALUE>", "Environment variable of the --dynamic-test workloads (repeatable)", strings)
    .option("--dynamic-timeout <SECONDS>", "Kill a --dynamic-test workload after this long (default 300)", strings)
    .option("--explain", "Print the plan: every entry with its size and the reasons it is there")
    .option("--tracer <TRACER>", "Tracer for --dynamic: auto (default), native or strace", strings)
    .option("-c, --compress", "Compress the executables with UPX (built in; no upx binary needed)")
    .option("--upx-arg <ARG>", "Argument passed to UPX (repeatable; may start with -)")
    .option("--busybox <PATH>", "Static busybox for --test (default: busybox on PATH; busybox-<arch> for another architecture)", strings)
    .option("--emulator <PATH>", "Static qemu-user for --test of another architecture (default: qemu-<arch>-static on PATH)", strings)
    .option("--upx <PATH>", "Native upx to use instead of the built-in one", strings)
    .option("--cc <PATH>", "Accepted for compatibility: the resolver needs no C compiler", strings)
    .option("--experimental-noload-resolver", "Accepted for compatibility: the resolver never loads libraries")
    .option("--list", "Print what the loader would load, as `LD_TRACE_LOADED_OBJECTS=1 FILE` does")
    .option("--tree", "Print the dependency tree with the reason each object was found")
    .option("--json", "Print the whole load graph as JSON")
    .option("--root <DIR>", "Analyse and bundle from this root filesystem, as after chroot (or OS/ARCH=DIR, once per platform, for a multi-platform image)", strings)
    .option("--from-image <SOURCE>", "Slim an image: an OCI layout DIR[:TAG], an OCI archive or a Docker archive (INPUT defaults to its Entrypoint/Cmd)", strings)
    .option("--platform <OS/ARCH>", "With --from-image or several --root: only this platform (default every one)", strings)
    .option("--library-path <PATH>", "LD_LIBRARY_PATH of the target program", strings)
    .option("--preload <LIST>", "LD_PRELOAD of the target program", strings)
    .option("--cwd <DIR>", "Working directory of the target program (inside the root)", strings)
    .option("--no-nss", "Do not add NSS modules and configuration for programs that use NSS lookups")
    .option("--passwd", "Add a minimal /etc/passwd and /etc/group (root, nobody)")
    .option("--tmp", "Add /tmp with mode 1777")
    .option("--ca-certificates", "Add the root's CA certificates (/etc/ssl/certs)")
    .option("--tzdata", "Add time zone data (/usr/share/zoneinfo, /etc/localtime)")
    .option("--gconv", "Add gconv modules when the program uses iconv")
    .option("--dlopen-notes <WHICH>", "Sonames from .note.dlopen to add: none, required (default), recommended, all", strings)
    .option("--oci <DIR>", "Also write the bundle as an OCI image layout", strings)
    .option("--oci-archive <FILE>", "Also write the bundle as an OCI archive", strings)
    .option("--docker-archive <FILE>", "Also write the bundle as a tarball for docker load / podman load", strings)
    .option("--cmd <ARG>", "Image Cmd (repeatable, one argument each; may start with -)")
    .option("--env <NAME=VALUE>", "Image Env (repeatable; PATH is set by default)", strings)
    .option("--workdir <DIR>", "Image WorkingDir", strings)
    .option("--user <USER>", "Image User", strings)
    .option("--label <KEY=VALUE>", "Image label (repeatable)", strings)
    .option("--tag <NAME[:TAG]>", "Image reference name (OCI ref.name, Docker RepoTags)", strings)
    .option("--no-package-records", "Do not add /var/lib/dpkg/status.d records and /etc/os-release for package scanners")
    .option("--sbom <FILE>", "Write the bundle's SBOM (also attached to --oci/--oci-archive images)", strings)
    .option("--sbom-format <FORMAT>", "spdx (SPDX 2.3 JSON, default) or cyclonedx (CycloneDX 1.5 JSON)", strings)
    .option("--resolver <R>", "With --list/--json: ts (default, the model) or native (ask this machine's loader by dlopen, host root only)", strings)
    .option("-V, --version", "Print the version and whether the native addon is loaded");
  cli.help();
  let parsed;
  try {
    parsed = cli.parse(["node", "magicpak", ...rest], { run: false });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const raw = parsed.options as Record<string, unknown>;
  const known = new Set<string>(["--", "h", "v", "V", "i", "e", "r", "t", "d", "c", ...VALUE_OPTIONS, ...FLAG_OPTIONS]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw new UsageError(`unknown option --${kebab(key)} (see --help)`);
  }
  const options: Parsed = { once: {}, repeated: {}, flags: {}, hyphenValues };
  for (const key of VALUE_OPTIONS) {
    // The parser still sees spellings the pre-pass does not take (such as -iGLOB).
    const value = raw[key];
    if (value === undefined && values[key] === undefined) continue;
    const given: unknown[] = value === undefined ? [] : Array.isArray(value) ? value : [value];
    if (given.some((v) => v === "true" || v === "undefined")) throw new UsageError(`--${kebab(key)} requires a value`);
    const list = [...(values[key] ?? []), ...given.map(String)];
    if (isRepeatable(key)) options.repeated[key] = list;
    else if (list.length > 1) throw new UsageError(`--${kebab(key)} may be given once`);
    else options.once[key] = list[0]!;
  }
  for (const key of FLAG_OPTIONS) {
    const value = raw[key];
    if (value === undefined) continue;
    if (typeof value !== "boolean") throw new UsageError(`--${kebab(key)} takes no value`);
    options.flags[key] = value;
  }
  return { options, paths: parsed.args.map(String) };
}

function isRepeatable(key: string): key is (typeof REPEATABLE_OPTIONS)[number] {
  return (REPEATABLE_OPTIONS as readonly string[]).includes(key);
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const LEVELS: LogLevel[] = ["Off", "Error", "Warn", "Info", "Debug"];

function logger(options: Parsed, warn: (text: string) => void): Logger {
  const given = options.once.logLevel ?? "Warn";
  if (!isLogLevel(given)) throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")} (got ${JSON.stringify(given)})`);
  const level = options.flags.verbose ? "Info" : given;
  const threshold = LEVELS.indexOf(level);
  return (messageLevel, message) => {
    if (threshold >= LEVELS.indexOf(messageLevel) && threshold > 0) warn(`${messageLevel.toUpperCase().padStart(5)} ${message}`);
  };
}

function isLogLevel(value: string): value is LogLevel {
  return (LEVELS as string[]).includes(value);
}

/** The one --root (DIR); OS/ARCH=DIR roots are for bundleFromImage. */
function singleRoot(options: Parsed): string | undefined {
  const roots = options.repeated.root ?? [];
  if (roots.length > 1 || roots.some(isPlatformRoot)) throw new UsageError("several --root, or --root OS/ARCH=DIR, make a multi-platform image: give each as OS/ARCH=DIR, with an --oci or --oci-archive output");
  return roots[0];
}

function isPlatformRoot(root: string): boolean {
  return /^[a-z0-9_]+\/[a-z0-9_]+(\/[a-z0-9_]+)?=/.test(root);
}

async function bundleMode(paths: string[], options: Parsed, warn: (text: string) => void): Promise<number> {
  const roots = options.repeated.root ?? [];
  if (options.once.fromImage !== undefined || roots.some(isPlatformRoot)) return fromImageMode(paths, options, warn);
  if (options.once.platform !== undefined) throw new UsageError("--platform needs --from-image or --root OS/ARCH=DIR");
  if (paths.length < 2) throw new UsageError("expected <INPUT>... <OUTPUT> (see --help)");
  // Steps on a terminal's stderr (nothing when it is no TTY), unless --log-level Off asks for silence.
  const progress = options.once.logLevel?.toLowerCase() === "off" ? undefined : terminalProgress(process.stderr);
  const log = logger(options, progress ? progress.around(warn) : warn);
  const inputs = paths.slice(0, -1);
  const output = paths[paths.length - 1]!;
  const { once, repeated, flags, hyphenValues } = options;
  if (once.cc !== undefined) log("Debug", "--cc is accepted for compatibility and not needed: the resolver compiles nothing");
  if (flags.experimentalNoloadResolver) log("Debug", "--experimental-noload-resolver is accepted for compatibility: the resolver never loads libraries");
  const test = flags.test
    ? {
        // Absent: the jail finds busybox and the emulator by the inputs' architecture, and checks them.
        busybox: once.busybox,
        emulator: once.emulator,
        command: once.testCommand,
        stdin: once.testStdin,
        stdout: once.testStdout,
        timeoutMs: testTimeoutMs(once.testTimeout),
        network: testNetwork(once.testNetwork),
      }
    : undefined;
  // Imported here: the listing modes start faster without the bundler, the images and the jail.
  const { bundle } = await import("../lib/bundle/bundle.js");
  const dynamicCommands = hyphenValues["--dynamic-command"]!;
  const dynamicTest =
    flags.dynamicTest || dynamicCommands.length
      ? { testCommand: flags.dynamicTest === true, commands: dynamicCommands, env: dynamicEnv(repeated.dynamicEnv ?? []), timeoutMs: dynamicTimeout(once.dynamicTimeout) }
      : undefined;
  const result = await bundle({
    inputs,
    dynamicTest,
    output,
    root: singleRoot(options),
    cwd: once.cwd,
    include: repeated.include,
    exclude: repeated.exclude,
    mkdir: repeated.mkdir,
    installTo: once.installTo,
    dynamic: flags.dynamic ? { args: hyphenValues["--dynamic-arg"], stdin: once.dynamicStdin, tracer: tracerChoice(once.tracer) } : undefined,
    compress: flags.compress ? { upxArgs: hyphenValues["--upx-arg"], upx: once.upx === undefined ? undefined : requireOnPath(once.upx, "upx") } : undefined,
    environment: { libraryPath: once.libraryPath ?? null, preload: once.preload ?? null },
    images: imageOptions(options),
    packageRecords: flags.packageRecords !== false,
    sbom: once.sbom !== undefined ? { path: once.sbom, format: sbomFormat(once.sbomFormat) } : undefined,
    extras: {
      nss: flags.nss !== false,
      passwd: flags.passwd === true,
      tmp: flags.tmp === true,
      caCertificates: flags.caCertificates === true,
      tzdata: flags.tzdata === true,
      gconv: flags.gconv === true,
      dlopenNotes: dlopenNotesChoice(once.dlopenNotes),
    },
    test,
    log,
    progress,
  });
  if (flags.explain) process.stdout.write(formatPlan(result.graph));
  return 0;
}

/** --from-image SOURCE [INPUT...] OUTPUT, or --root OS/ARCH=DIR... INPUT... OUTPUT. */
async function fromImageMode(paths: string[], options: Parsed, warn: (text: string) => void): Promise<number> {
  const { once, repeated, flags, hyphenValues } = options;
  const roots = repeated.root ?? [];
  if (once.fromImage !== undefined && roots.length > 0) throw new UsageError("--from-image and --root cannot be combined");
  if (roots.some((r) => !isPlatformRoot(r))) throw new UsageError("with several platforms every --root is OS/ARCH=DIR");
  if (paths.length < 1) throw new UsageError("expected [INPUT]... <OUTPUT> (see --help)");
  if (once.fromImage === undefined && paths.length < 2) throw new UsageError("expected <INPUT>... <OUTPUT> (see --help)");
  const log = logger(options, warn);
  const { bundleFromImage } = await import("../lib/bundle/from-image.js");
  const result = await bundleFromImage({
    source: once.fromImage,
    platform: once.platform,
    roots: roots.length > 0 ? roots.map((r) => ({ platform: r.slice(0, r.indexOf("=")), root: r.slice(r.indexOf("=") + 1) })) : undefined,
    inputs: paths.slice(0, -1),
    output: paths[paths.length - 1]!,
    cwd: once.cwd,
    include: repeated.include,
    exclude: repeated.exclude,
    mkdir: repeated.mkdir,
    installTo: once.installTo,
    dynamic: flags.dynamic ? { args: hyphenValues["--dynamic-arg"], stdin: once.dynamicStdin, tracer: tracerChoice(once.tracer) } : undefined,
    compress: flags.compress ? { upxArgs: hyphenValues["--upx-arg"], upx: once.upx === undefined ? undefined : requireOnPath(once.upx, "upx") } : undefined,
    environment: { libraryPath: once.libraryPath ?? null, preload: once.preload ?? null },
    images: imageOptions(options),
    extras: {
      nss: flags.nss !== false,
      passwd: flags.passwd === true,
      tmp: flags.tmp === true,
      caCertificates: flags.caCertificates === true,
      tzdata: flags.tzdata === true,
      gconv: flags.gconv === true,
      dlopenNotes: dlopenNotesChoice(once.dlopenNotes),
    },
    test: flags.test ? { busybox: once.busybox, emulator: once.emulator, command: once.testCommand, stdin: once.testStdin, stdout: once.testStdout } : undefined,
    log,
  });
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  for (const p of result.platforms) {
    const ratio = p.inputSize > 0 ? ` (${((100 * p.outputSize) / p.inputSize).toFixed(1)}%)` : "";
    warn(`${p.platform} ${p.input}: ${p.inputSize > 0 ? `input ${mb(p.inputSize)} -> ` : ""}output ${mb(p.outputSize)}${ratio}`);
  }
  return 0;
}

function dynamicEnv(assignments: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const a of assignments) {
    const eq = a.indexOf("=");
    if (eq <= 0) throw new UsageError(`--dynamic-env must be NAME=VALUE (got ${JSON.stringify(a)})`);
    env[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return env;
}

function dynamicTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--dynamic-timeout must be a positive number of seconds (got ${JSON.stringify(value)})`);
  return seconds * 1000;
}

function imageOptions({ once, repeated, hyphenValues }: Parsed): NonNullable<BundleOptions["images"]> {
  const cmd = hyphenValues["--cmd"]!;
  const labels: Record<string, string> = {};
  for (const label of repeated.label ?? []) {
    const eq = label.indexOf("=");
    if (eq <= 0) throw new UsageError(`--label ${label}: expected KEY=VALUE`);
    labels[label.slice(0, eq)] = label.slice(eq + 1);
  }
  return {
    ociLayout: once.oci,
    ociArchive: once.ociArchive,
    dockerArchive: once.dockerArchive,
    config: {
      ...(cmd.length > 0 ? { cmd } : {}),
      ...(repeated.env !== undefined ? { env: repeated.env } : {}),
      ...(once.workdir !== undefined ? { workdir: once.workdir } : {}),
      ...(once.user !== undefined ? { user: once.user } : {}),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(once.tag !== undefined ? { tag: once.tag } : {}),
    },
  };
}

/** A program given as a path or a name on PATH (magicpak's `which`), or a one-line error. */
function requireOnPath(given: string, what: string): string {
  const found = findOnPath(given);
  if (!found) throw new BundleError(given, `${what} not found`);
  return found;
}

function dlopenNotesChoice(value: string | undefined): "none" | "required" | "recommended" | "all" {
  if (value === undefined) return "required";
  if (value === "none" || value === "required" || value === "recommended" || value === "all") return value;
  throw new UsageError(`--dlopen-notes must be none, required, recommended or all (got ${JSON.stringify(value)})`);
}

function sbomFormat(value: string | undefined): "spdx" | "cyclonedx" {
  if (value === undefined || value === "spdx" || value === "cyclonedx") return value ?? "spdx";
  throw new UsageError(`--sbom-format must be spdx or cyclonedx (got ${JSON.stringify(value)})`);
}

function tracerChoice(value: string | undefined): TracerChoice {
  if (value === undefined || value === "auto" || value === "native" || value === "strace") return value ?? "auto";
  throw new UsageError(`--tracer must be auto, native or strace (got ${JSON.stringify(value)})`);
}

/** --list/--json --resolver native: what this machine's loader answers for each name (dlopen + dlinfo). */
async function nativeListMode(files: string[], options: Parsed, print: (text: string, raw?: boolean) => void, warn: (text: string) => void): Promise<number> {
  if (files.length === 0) throw new UsageError("expected at least one FILE to list");
  if (options.flags.tree) throw new UsageError("--resolver native works with --list and --json");
  if (singleRoot(options) !== undefined && singleRoot(options) !== "/") throw new UsageError("--resolver native asks this machine's loader: it cannot be combined with --root");
  let status = 0;
  for (const file of files) {
    let graph;
    try {
      graph = await (await import("../lib/native/resolver.js")).nativeLoadGraph(file, { libraryPath: options.once.libraryPath ?? null });
    } catch (error) {
      warn(`error: ${(error as Error).message}`);
      status = 1;
      continue;
    }
    if (graph.missing.length > 0) status = 1;
    if (options.flags.json) {
      print(JSON.stringify(graph, null, 2), true);
      continue;
    }
    if (files.length > 1) print(`${file}:`);
    for (const object of graph.objects.slice(1)) print(object.name === object.path ? `\t${object.name}` : `\t${object.name} => ${object.path}`);
    for (const missing of graph.missing) print(`\t${missing.name} => not found (${missing.error})`);
  }
  return status;
}

function listMode(files: string[], options: Parsed, print: (text: string, raw?: boolean) => void, warn: (text: string) => void): number {
  if (files.length === 0) throw new UsageError("expected at least one FILE to list");
  const loader = new Loader(singleRoot(options) ?? "/", {
    libraryPath: options.once.libraryPath ?? null,
    preload: options.once.preload ?? null,
    cwd: options.once.cwd ?? "/",
  });
  let status = 0;
  const graphs: (LoadGraph & { packages?: unknown })[] = [];
  const db = openPackageDatabase(loader.root);
  const packageOf = (path: string) => {
    const resolved = db ? loader.root.tryResolve(path) : null;
    const pkg = resolved ? db!.ownersOf(resolved.path)[0] : undefined;
    return pkg ? { name: pkg.name, version: pkg.version, architecture: pkg.architecture } : null;
  };
  for (const file of files) {
    let graph: LoadGraph;
    try {
      graph = loader.load(file);
    } catch (error) {
      if (error instanceof InputError) {
        warn(`error: ${error.message}`);
        status = 1;
        continue;
      }
      throw error;
    }
    if (!isComplete(graph)) status = 1;
    if (options.flags.json) {
      // Each object's package (null for files no package owns, or a root without a database).
      graphs.push(db ? { ...graph, packages: graph.objects.map((o) => packageOf(o.realPath)) } : graph);
      continue;
    }
    if (files.length > 1) print(`${file}:`);
    if (options.flags.tree) {
      const describe = db ? (path: string) => {
        const pkg = packageOf(path);
        return pkg ? `${pkg.name} ${pkg.version}` : "no package";
      } : undefined;
      for (const line of formatTree(graph, describe)) print(line);
    } else {
      const trace = formatTrace(graph, file);
      for (const line of trace.lines) print(line);
      for (const line of trace.errors) warn(line);
    }
  }
  if (options.flags.json) print(JSON.stringify(graphs.length === 1 && files.length === 1 ? graphs[0] : graphs, null, 2), true);
  return status;
}
