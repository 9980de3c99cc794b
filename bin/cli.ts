// The command line: a thin layer over the library. Exit codes: 0 success, 1 runtime error, 2 usage error.
//
//   magicpak [OPTIONS] <INPUT>... <OUTPUT>          bundle (magicpak 1.4.0's command line)
//   magicpak --list|--tree|--json [OPTIONS] FILE... list what the loader would load

import type { BundleOptions } from "../lib/bundle/bundle.js";
import { BundleError } from "../lib/bundle/errors.js";
import type { Logger } from "../lib/bundle/log.js";
import { TestFailure } from "../lib/jail/errors.js";
import { findOnPath } from "../lib/fs/which.js";
import { formatPlan } from "../lib/report/plan.js";
import { VERSION } from "../lib/version.js";
import { present } from "../lib/present.js";
import { installSignalCleanup } from "../lib/cleanup.js";
import { pathErrorOf } from "../lib/errors.js";
import { printable } from "../lib/report/printable.js";
import { terminalProgress, type Progress } from "../lib/report/progress.js";
import { parseCommandLine } from "./argv.js";
import { helpText } from "./help.js";
import { listMode } from "./list.js";
import { LOG_LEVELS, UsageError, type CliOptions } from "./options.js";

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
    const { options, paths, orphans } = parseCommandLine(argv);
    if (options.help) {
      out.write(helpText());
      return 0;
    }
    if (options.version) {
      write(out, `magicpak ${VERSION} (node ${process.version}, ${process.platform}-${process.arch})`);
      write(out, `native addon: ${(await import("../lib/native/addon.js")).nativeStatus()}`);
      return 0;
    }
    const formats = (["list", "tree", "json"] as const).filter((f) => options[f]);
    if (formats.length > 1) throw new UsageError("--list, --tree and --json cannot be combined");
    if (formats[0] !== undefined) {
      return await listMode(formats[0], paths, options, singleRoot(options), { print: (t, raw) => write(out, t, raw), warn: (t) => write(err, t) });
    }
    // Steps on a terminal's stderr (nothing when it is no TTY), unless --log-level Off asks for silence.
    const progress = options.logLevel === "Off" ? undefined : terminalProgress(process.stderr);
    const warn = (t: string) => write(err, t);
    const log = logger(options, progress ? progress.around(warn) : warn);
    for (const name of orphans) log("Warn", `${name} is ignored without --test`);
    return await bundleMode(paths, options, log, warn, progress);
  } catch (error) {
    if (error instanceof UsageError) {
      write(err, `error: ${error.message}`);
      return 2;
    }
    if (error instanceof TestFailure) {
      write(err, `error: test failed: ${error.message}`);
      return 1;
    }
    // Every error about a path (PathError and its kinds, an fs error carrying errno and path): one line.
    const mapped = pathErrorOf(error);
    if (mapped) {
      write(err, `error: ${mapped.message}`);
      return 1;
    }
    throw error;
  }
}

function logger(options: CliOptions, warn: (text: string) => void): Logger {
  const level = options.verbose ? "Info" : (options.logLevel ?? "Warn");
  const threshold = LOG_LEVELS.indexOf(level);
  return (messageLevel, message) => {
    if (threshold >= LOG_LEVELS.indexOf(messageLevel) && threshold > 0) warn(`${messageLevel.toUpperCase().padStart(5)} ${message}`);
  };
}

/** The one --root (DIR); OS/ARCH=DIR roots are for bundleFromImage. */
function singleRoot(options: CliOptions): string | undefined {
  const roots = options.root;
  if (roots.length > 1 || roots.some(isPlatformRoot))
    throw new UsageError("several --root, or --root OS/ARCH=DIR, make a multi-platform image: give each as OS/ARCH=DIR, with an --oci or --oci-archive output");
  return roots[0];
}

function isPlatformRoot(root: string): boolean {
  return /^[a-z0-9_]+\/[a-z0-9_]+(\/[a-z0-9_]+)?=/.test(root);
}

/** What bundling and slimming an image share. */
function commonOptions(options: CliOptions, log: Logger) {
  return {
    cwd: options.cwd,
    include: options.include,
    exclude: options.exclude,
    mkdir: options.mkdir,
    installTo: options.installTo,
    dynamic: options.dynamic ? { args: options.dynamicArg, stdin: options.dynamicStdin, tracer: options.tracer ?? "auto" } : undefined,
    compress: options.compress ? { upxArgs: options.upxArg, upx: options.upx === undefined ? undefined : requireOnPath(options.upx, "upx") } : undefined,
    environment: { libraryPath: options.libraryPath ?? null, preload: options.preload ?? null },
    images: imageOptions(options),
    extras: {
      nss: options.nss,
      passwd: options.passwd,
      tmp: options.tmp,
      caCertificates: options.caCertificates,
      tzdata: options.tzdata,
      gconv: options.gconv,
      dlopenNotes: options.dlopenNotes ?? "required",
    },
    test: options.test
      ? {
          // Absent: the jail finds busybox and the emulator by the inputs' architecture, and checks them.
          busybox: options.busybox,
          emulator: options.emulator,
          command: options.testCommand,
          stdin: options.testStdin,
          stdout: options.testStdout,
          timeoutMs: options.testTimeout,
          network: options.testNetwork,
        }
      : undefined,
    log,
  } satisfies Partial<BundleOptions>;
}

async function bundleMode(paths: string[], options: CliOptions, log: Logger, warn: (text: string) => void, progress: Progress | undefined): Promise<number> {
  if (options.fromImage !== undefined || options.root.some(isPlatformRoot)) return fromImageMode(paths, options, log, warn);
  if (options.platform !== undefined) throw new UsageError("--platform needs --from-image or --root OS/ARCH=DIR");
  if (paths.length < 2) throw new UsageError("expected <INPUT>... <OUTPUT> (see --help)");
  if (options.cc !== undefined) log("Debug", "--cc is accepted for compatibility and not needed: the resolver compiles nothing");
  if (options.experimentalNoloadResolver) log("Debug", "--experimental-noload-resolver is accepted for compatibility: the resolver never loads libraries");
  // Imported here: the listing modes start faster without the bundler, the images and the jail.
  const { bundle } = await import("../lib/bundle/bundle.js");
  const dynamicTest =
    options.dynamicTest || options.dynamicCommand.length
      ? { testCommand: options.dynamicTest, commands: options.dynamicCommand, env: Object.fromEntries(options.dynamicEnv), timeoutMs: options.dynamicTimeout }
      : undefined;
  const result = await bundle({
    ...commonOptions(options, log),
    inputs: paths.slice(0, -1),
    output: present(paths.at(-1), "OUTPUT"), // the count was checked above
    root: singleRoot(options),
    dynamicTest,
    packageRecords: options.packageRecords,
    sbom: options.sbom !== undefined ? { path: options.sbom, format: options.sbomFormat ?? "spdx" } : undefined,
    progress,
  });
  if (options.explain) process.stdout.write(formatPlan(result.graph));
  return 0;
}

/** --from-image SOURCE [INPUT...] OUTPUT, or --root OS/ARCH=DIR... INPUT... OUTPUT. */
async function fromImageMode(paths: string[], options: CliOptions, log: Logger, warn: (text: string) => void): Promise<number> {
  const roots = options.root;
  if (options.fromImage !== undefined && roots.length > 0) throw new UsageError("--from-image and --root cannot be combined");
  if (roots.some((r) => !isPlatformRoot(r))) throw new UsageError("with several platforms every --root is OS/ARCH=DIR");
  if (paths.length < 1) throw new UsageError("expected [INPUT]... <OUTPUT> (see --help)");
  if (options.fromImage === undefined && paths.length < 2) throw new UsageError("expected <INPUT>... <OUTPUT> (see --help)");
  const { bundleFromImage } = await import("../lib/bundle/from-image.js");
  const result = await bundleFromImage({
    ...commonOptions(options, log),
    source: options.fromImage,
    platform: options.platform,
    roots: roots.length > 0 ? roots.map((r) => ({ platform: r.slice(0, r.indexOf("=")), root: r.slice(r.indexOf("=") + 1) })) : undefined,
    inputs: paths.slice(0, -1),
    output: present(paths.at(-1), "OUTPUT"), // the count was checked above
  });
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  for (const p of result.platforms) {
    const ratio = p.inputSize > 0 ? ` (${((100 * p.outputSize) / p.inputSize).toFixed(1)}%)` : "";
    warn(`${p.platform} ${p.input}: ${p.inputSize > 0 ? `input ${mb(p.inputSize)} -> ` : ""}output ${mb(p.outputSize)}${ratio}`);
  }
  return 0;
}

function imageOptions(options: CliOptions): NonNullable<BundleOptions["images"]> {
  const cmd = options.cmd;
  const labels = Object.fromEntries(options.label);
  return {
    ociLayout: options.oci,
    ociArchive: options.ociArchive,
    dockerArchive: options.dockerArchive,
    config: {
      ...(cmd.length > 0 ? { cmd } : {}),
      ...(options.env.length > 0 ? { env: options.env } : {}),
      ...(options.workdir !== undefined ? { workdir: options.workdir } : {}),
      ...(options.user !== undefined ? { user: options.user } : {}),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(options.tag !== undefined ? { tag: options.tag } : {}),
    },
  };
}

/** A program given as a path or a name on PATH (magicpak's `which`), or a one-line error. */
function requireOnPath(given: string, what: string): string {
  const found = findOnPath(given);
  if (!found) throw new BundleError(given, `${what} not found`);
  return found;
}
