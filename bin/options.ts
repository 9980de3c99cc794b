// The command line's options, each named once. The table generates the option parser's
// registration (bin/argv.ts), the known spellings, the verbatim-value pre-pass, the typed result
// (CliOptions) and the help (bin/help.ts).

import { MAX_TIMEOUT_MS } from "../lib/bundle/check-options.js";
import { DLOPEN_NOTES } from "../lib/bundle/extras.js";
import { LOG_LEVELS, type LogLevel } from "../lib/bundle/log.js";
import { JAIL_NETWORKS } from "../lib/jail/jail.js";
import { SBOM_FORMATS } from "../lib/provenance/sbom.js";
import { TRACERS } from "../lib/trace/index.js";
import { parseReference } from "../lib/image/config.js";
import { ImageError } from "../lib/image/errors.js";

/** A mistake in the command line itself: exit 2. */
export class UsageError extends Error {}

/** The help's sections, in README.md's order. */
export const GROUPS = {
  bundling: { title: "Bundling" },
  test: { title: "Test (-t): the jail is the FROM scratch image, the bundle only" },
  dynamic: { title: "Dynamic (-d, --dynamic-test): trace a run and bundle what it uses" },
  compression: { title: "Compression (-c)" },
  images: { title: "Images (written from the tested plan; reproducible: SOURCE_DATE_EPOCH or 0)" },
  extras: {
    title: "Runtime extras and package records (each appears in the plan with its reason)",
    intro:
      "Automatic: NSS (/etc/nsswitch.conf, /etc/hosts, the libnss_* modules of the databases the program looks up, a minimal /etc/passwd and /etc/group for passwd lookups), libgcc_s for pthread_cancel/pthread_exit/unwinding, required .note.dlopen sonames, /etc/ld.so.cache when a library is found only through it, and dpkg records of the bundle's packages.",
  },
  listing: { title: "Listing (--root, --cwd, --library-path and --preload apply; exit 1 when something is missing)" },
  other: { title: "Other" },
} as const;
export type Group = keyof typeof GROUPS;

interface FlagSpec {
  /** The long name without "--"; a "no-" name is the negation of a setting that is on by default. */
  readonly long: string;
  readonly short?: string;
  readonly group: Group;
  readonly help: string;
  /** Meaningless without this flag: a warning when given without it. */
  readonly requires?: "test";
}

interface ValueSpec extends FlagSpec {
  /** The value's name in the help: --include <GLOB>. */
  readonly value: string;
  readonly repeatable?: boolean;
  /** The value may start with '-' (magicpak 1.4.0's allow_hyphen_values). */
  readonly hyphen?: boolean;
  /** Checks one value and gives it its type; throws UsageError. */
  readonly parse?: (value: string, name: string) => unknown;
}

export type OptionSpec = FlagSpec | ValueSpec;

export function takesValue(spec: OptionSpec): spec is ValueSpec {
  return "value" in spec;
}

/** A parse for one of a closed set of words, each spelled exactly. */
function oneOf<const W extends string>(words: readonly W[]) {
  return (value: string, name: string): W => {
    if ((words as readonly string[]).includes(value)) return value as W;
    throw new UsageError(`${name} must be ${words.slice(0, -1).join(", ")} or ${words[words.length - 1]} (got ${JSON.stringify(value)})`);
  };
}

/** Seconds as the library's milliseconds, within what a timer can wait (MAX_TIMEOUT_MS). */
function positiveSeconds(value: string, name: string): number {
  const ms = Number(value) * 1000;
  if (!/^\d+(\.\d+)?$/.test(value) || !(ms > 0) || ms > MAX_TIMEOUT_MS) {
    throw new UsageError(`${name} must be a number of seconds above 0 and at most ${Math.floor(MAX_TIMEOUT_MS / 1000)} (got ${JSON.stringify(value)})`);
  }
  return ms;
}

function assignment(what: string) {
  return (value: string, name: string): [string, string] => {
    const eq = value.indexOf("=");
    if (eq <= 0) throw new UsageError(`${name} must be ${what} (got ${JSON.stringify(value)})`);
    return [value.slice(0, eq), value.slice(eq + 1)];
  };
}

export { LOG_LEVELS };

function logLevel(value: string, name: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l.toLowerCase() === value.toLowerCase());
  if (!level) throw new UsageError(`${name} must be one of ${LOG_LEVELS.join(", ")} (got ${JSON.stringify(value)})`);
  return level;
}

function imageReference(value: string, name: string): string {
  try {
    parseReference(value);
  } catch (error) {
    if (error instanceof ImageError) throw new UsageError(`${name} ${value}: ${error.problem}`);
    throw error;
  }
  return value;
}

export const OPTIONS = [
  // Bundling
  {
    long: "include",
    short: "i",
    value: "GLOB",
    repeatable: true,
    group: "bundling",
    help: "also bundle matching files, symlinks and directories (recursively); ELF files among them bring their own closure (repeatable)",
  },
  {
    long: "exclude",
    short: "e",
    value: "GLOB",
    repeatable: true,
    group: "bundling",
    help: "drop matching entries, also ones that came in as symlink targets; a match removes its whole subtree (repeatable)",
  },
  { long: "mkdir", value: "PATH", repeatable: true, group: "bundling", help: "an empty directory in the bundle (/tmp and /var/tmp get 1777) (repeatable)" },
  { long: "install-to", short: "r", value: "PATH", group: "bundling", help: "where the input goes; a trailing / appends its file name" },
  {
    long: "root",
    value: "DIR",
    repeatable: true,
    group: "bundling",
    help: "bundle or list from this root filesystem, as after chroot(DIR); OS/ARCH=DIR, once per platform, makes one multi-platform image",
  },
  { long: "cwd", value: "DIR", group: "bundling", help: "the target's working directory (relative FILEs and names, empty path elements); default / (listing on the host root: the current directory)" },
  { long: "library-path", value: "PATH", group: "bundling", help: "LD_LIBRARY_PATH of the target program (the host's is never used)" },
  { long: "preload", value: "LIST", group: "bundling", help: "LD_PRELOAD of the target program" },
  { long: "log-level", value: "LEVEL", group: "bundling", parse: logLevel, help: "Off, Error, Warn (default), Info or Debug, in any case" },
  { long: "verbose", short: "v", group: "bundling", help: "Info (overrides --log-level)" },
  { long: "explain", group: "bundling", help: "print the plan: every entry, largest first, with its size and the reasons it is there" },
  { long: "cc", value: "PATH", group: "bundling", help: "accepted for compatibility; not needed (nothing is compiled)" },
  { long: "experimental-noload-resolver", group: "bundling", help: "accepted for compatibility; not needed (nothing is loaded)" },
  // Test
  { long: "test", short: "t", group: "test", help: "run a test in a jail that holds the bundle only" },
  { long: "test-command", value: "CMD", requires: "test", group: "test", help: "run as sh -c CMD by a hidden busybox (default: each input's name)" },
  { long: "test-stdin", value: "TEXT", requires: "test", group: "test", help: "its standard input" },
  { long: "test-stdout", value: "TEXT", requires: "test", group: "test", help: "expected standard output, compared after trimming" },
  { long: "test-timeout", value: "SECONDS", requires: "test", parse: positiveSeconds, group: "test", help: "kill the test command after SECONDS, a test failure (default 300)" },
  { long: "test-network", value: "MODE", requires: "test", parse: oneOf(JAIL_NETWORKS), group: "test", help: "none: only loopback, up (default); host: the host's network" },
  {
    long: "busybox",
    value: "PATH",
    group: "test",
    help: "static busybox for --test and --dynamic-test (default: busybox on PATH; for inputs of another architecture busybox-<arch>, as busybox-arm64)",
  },
  { long: "emulator", value: "PATH", group: "test", help: "static qemu-user for --test of another architecture (default: qemu-<arch>-static on PATH, as qemu-aarch64-static)" },
  // Dynamic
  {
    long: "dynamic",
    short: "d",
    group: "dynamic",
    help: "run each input once under a tracer and bundle every file it (and every process it starts) opens, executes, stats or reads as a link; ELF files among them bring their closure; /proc, /sys, /dev skipped",
  },
  { long: "dynamic-arg", value: "ARG", repeatable: true, hyphen: true, group: "dynamic", help: "its arguments (repeatable; may start with -)" },
  { long: "dynamic-stdin", value: "TEXT", group: "dynamic", help: "its standard input (closed at once when absent)" },
  { long: "tracer", value: "T", parse: oneOf(TRACERS), group: "dynamic", help: "auto (the native addon if loaded, else strace), native or strace" },
  { long: "dynamic-test", group: "dynamic", help: "trace the --test command as the workload (needs --test) and bundle what its processes use" },
  { long: "dynamic-command", value: "CMD", repeatable: true, hyphen: true, group: "dynamic", help: "another workload, run the same way (repeatable; may start with -)" },
  { long: "dynamic-env", value: "NAME=VALUE", repeatable: true, parse: assignment("NAME=VALUE"), group: "dynamic", help: "environment of the workloads (repeatable; PATH is the image's, HOME=/)" },
  { long: "dynamic-timeout", value: "SECONDS", parse: positiveSeconds, group: "dynamic", help: "kill a workload after this long (default 300)" },
  // Compression
  { long: "compress", short: "c", group: "compression", help: "pack the input executables with UPX (built in; libraries are never packed)" },
  { long: "upx-arg", value: "ARG", repeatable: true, hyphen: true, group: "compression", help: "UPX arguments (repeatable; may start with -, e.g. --best, --lzma)" },
  { long: "upx", value: "PATH", group: "compression", help: "run this native upx instead of the built-in one" },
  // Images
  { long: "oci", value: "DIR", group: "images", help: "an OCI image layout" },
  { long: "oci-archive", value: "FILE", group: "images", help: "an OCI archive" },
  { long: "docker-archive", value: "FILE", group: "images", help: "a tarball for docker load / podman load" },
  { long: "cmd", value: "ARG", repeatable: true, hyphen: true, group: "images", help: "the image's Cmd, one argument each (repeatable; may start with -); the entrypoint is the installed program" },
  { long: "env", value: "NAME=VALUE", repeatable: true, group: "images", help: "the image's Env (repeatable; PATH is set by default)" },
  { long: "workdir", value: "DIR", group: "images", help: "the image's WorkingDir" },
  { long: "user", value: "USER", group: "images", help: "the image's User" },
  { long: "label", value: "KEY=VALUE", repeatable: true, parse: assignment("KEY=VALUE"), group: "images", help: "an image label (repeatable)" },
  { long: "tag", value: "NAME[:TAG]", parse: imageReference, group: "images", help: "the image's name (OCI ref.name, Docker RepoTags)" },
  { long: "from-image", value: "SOURCE", group: "images", help: "slim an image: an OCI layout DIR[:TAG], an OCI archive or a Docker archive; INPUT defaults to its Entrypoint (else Cmd) program" },
  { long: "platform", value: "OS/ARCH", group: "images", help: "only this platform of a multi-platform image (default: every one)" },
  // Extras
  { long: "no-nss", group: "extras", help: "no NSS extras" },
  { long: "dlopen-notes", value: "W", parse: oneOf(DLOPEN_NOTES), group: "extras", help: "none, required (default), recommended or all" },
  { long: "gconv", group: "extras", help: "gconv modules and configuration when iconv is used" },
  { long: "ca-certificates", group: "extras", help: "the root's CA certificates" },
  { long: "tzdata", group: "extras", help: "/usr/share/zoneinfo and /etc/localtime" },
  { long: "passwd", group: "extras", help: "a minimal /etc/passwd and /etc/group (root, nobody)" },
  { long: "tmp", group: "extras", help: "/tmp with mode 1777" },
  { long: "no-package-records", group: "extras", help: "no /var/lib/dpkg/status.d records and /etc/os-release for scanners" },
  { long: "sbom", value: "FILE", group: "extras", help: "the bundle's SBOM; attached to --oci/--oci-archive images" },
  { long: "sbom-format", value: "FORMAT", parse: oneOf(SBOM_FORMATS), group: "extras", help: "spdx (SPDX 2.3 JSON, default) or cyclonedx (CycloneDX 1.5 JSON)" },
  // Listing
  { long: "list", group: "listing", help: "what the loader loads for each FILE, as LD_TRACE_LOADED_OBJECTS=1 (ldd) prints it" },
  { long: "tree", group: "listing", help: "a tree with the reason each object was found, and every place tried for a miss" },
  { long: "json", group: "listing", help: "the whole load graph as JSON (schema/list.schema.json)" },
  { long: "resolver", value: "R", parse: oneOf(["ts", "native"]), group: "listing", help: "ts (default: the model) or native (this machine's loader, by dlopen; --list and --json, host root only)" },
  // Other
  { long: "version", short: "V", group: "other", help: "the version, and whether the optional native addon is loaded" },
  { long: "help", short: "h", group: "other", help: "this help" },
] as const satisfies readonly OptionSpec[];

type Spec = (typeof OPTIONS)[number];
type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
/** An option's key in CliOptions: camelCase, "no-nss" as the setting "nss". */
export type KeyOf<L extends string> = L extends `no-${infer R}` ? Camel<R> : Camel<L>;
type ValueOf<S> = S extends { parse: (value: string, name: string) => infer T } ? T : string;
type ResultOf<S> = S extends { value: string } ? (S extends { repeatable: true } ? ValueOf<S>[] : ValueOf<S> | undefined) : boolean;

/**
 * The command line, checked and typed: a flag is a boolean ("no-" settings default to true), a
 * value option its parsed value or undefined, a repeatable one every value in order.
 */
export type CliOptions = { [S in Spec as KeyOf<S["long"]>]: ResultOf<S> };

export function keyOf(long: string): string {
  return long.replace(/^no-/, "").replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
