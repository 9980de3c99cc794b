// The values bundle() and bundleFromImage() accept, checked before anything runs, as esbuild checks
// its API options: a program calling the library gets one BundleError naming the option
// ("options.test.timeoutMs: ...") for a wrong type, a value out of range or an unknown key (with
// the nearest known one), never a TypeError from deep inside a stage. The command line parses
// into these types and shares the word lists and bounds (bin/options.ts).

import { BundleError } from "./errors.js";
import { DLOPEN_NOTES } from "./extras.js";
import { JAIL_NETWORKS } from "../jail/jail.js";
import { parseReference } from "../image/config.js";
import { ImageError } from "../image/errors.js";
import { SBOM_FORMATS } from "../provenance/sbom.js";
import { suggestOption } from "../report/suggest.js";
import { TRACERS } from "../trace/index.js";
import type { BundleOptions, FromImageOptions } from "./options.js";

/** The longest timeout a timer can wait (setTimeout's signed 32-bit milliseconds; longer ones fire at once). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

type Check = (value: unknown, at: string) => void;

const fail = (at: string, problem: string): never => {
  throw new BundleError(at, problem);
};
const shown = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
};

const string: Check = (value, at) => {
  if (typeof value !== "string") fail(at, `must be a string (got ${shown(value)})`);
};
/** A path, a command or an argument handed to the kernel: a C string, so no NUL byte. */
const cString: Check = (value, at) => {
  string(value, at);
  if ((value as string).includes("\0")) fail(at, "must not contain a NUL byte");
};
const nonEmptyCString: Check = (value, at) => {
  cString(value, at);
  if (value === "") fail(at, "must not be empty");
};
const boolean: Check = (value, at) => {
  if (typeof value !== "boolean") fail(at, `must be true or false (got ${shown(value)})`);
};
const fn: Check = (value, at) => {
  if (typeof value !== "function") fail(at, `must be a function (got ${shown(value)})`);
};
const nullable =
  (check: Check): Check =>
  (value, at) => {
    if (value !== null) check(value, at);
  };
const timeoutMs: Check = (value, at) => {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_MS) {
    fail(at, `must be a number of milliseconds above 0 and at most ${MAX_TIMEOUT_MS} (got ${shown(value)})`);
  }
};
const oneOf =
  (words: readonly string[]): Check =>
  (value, at) => {
    if (typeof value !== "string" || !words.includes(value)) fail(at, `must be ${words.slice(0, -1).join(", ")} or ${words[words.length - 1]} (got ${shown(value)})`);
  };
const arrayOf =
  (check: Check): Check =>
  (value, at) => {
    if (!Array.isArray(value)) return fail(at, `must be an array (got ${shown(value)})`);
    value.forEach((item, i) => check(item, `${at}[${i}]`));
  };
const recordOf =
  (key: Check, check: Check): Check =>
  (value, at) => {
    if (!isPlainObject(value)) return fail(at, `must be an object (got ${shown(value)})`);
    for (const [name, item] of Object.entries(value)) {
      key(name, `${at} key ${JSON.stringify(name)}`);
      check(item, `${at}.${name}`);
    }
  };
/** An environment variable's name: what execve(2) can carry as NAME=VALUE. */
const envName: Check = (value, at) => {
  nonEmptyCString(value, at);
  if ((value as string).includes("=")) fail(at, "must not contain '='");
};
const imageReference: Check = (value, at) => {
  string(value, at);
  try {
    parseReference(value as string);
  } catch (error) {
    if (error instanceof ImageError) fail(at, error.problem);
    throw error;
  }
};
const epochSeconds: Check = (value, at) => {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) fail(at, `must be a whole number of seconds since the epoch, 0 or more (got ${shown(value)})`);
};
const count: Check = (value, at) => {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) fail(at, `must be a whole number above 0 (got ${shown(value)})`);
};
const buffer: Check = (value, at) => {
  if (!Buffer.isBuffer(value)) fail(at, `must be a Buffer (got ${shown(value)})`);
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An object with exactly these optional keys (undefined is as absent); `required` ones must be there. */
function shape(fields: Record<string, Check>, required: readonly string[] = []): Check {
  const known = Object.keys(fields);
  return (value, at) => {
    if (!isPlainObject(value)) return fail(at, `must be an object (got ${shown(value)})`);
    for (const key of required) if (value[key] === undefined) fail(`${at}.${key}`, "is required");
    for (const [key, item] of Object.entries(value)) {
      const check = fields[key];
      if (check === undefined) {
        const near = suggestOption(key, known);
        return fail(`${at}.${key}`, `is not an option${near.length ? ` (did you mean ${near.map((n) => `${at}.${n}`).join(" or ")}?)` : ""}`);
      }
      if (item !== undefined) check(item, `${at}.${key}`);
    }
  };
}

const paths = arrayOf(cString);

const progress = shape({ step: fn, around: fn, close: fn }, ["step", "around", "close"]);

const imageConfig = shape({
  entrypoint: arrayOf(cString),
  cmd: arrayOf(cString),
  env: arrayOf(cString),
  workdir: cString,
  user: cString,
  labels: recordOf(string, string),
  exposedPorts: arrayOf(string),
  volumes: arrayOf(cString),
  stopSignal: string,
  tag: imageReference,
  architecture: string,
  variant: string,
  os: oneOf(["linux"]),
  created: epochSeconds,
  createdBy: string,
  attachments: arrayOf(shape({ artifactType: string, mediaType: string, content: buffer, annotations: recordOf(string, string) }, ["artifactType", "mediaType", "content"])),
});

/** Every key of BundleOptions but `inputs` and `root`, whose rules differ between bundle() and bundleFromImage(). */
const COMMON = {
  output: cString,
  cwd: cString,
  include: paths,
  exclude: paths,
  mkdir: paths,
  installTo: nonEmptyCString,
  dynamic: shape({ args: arrayOf(cString), stdin: string, timeoutMs, tracer: oneOf(TRACERS) }),
  dynamicTest: shape({ testCommand: boolean, commands: arrayOf(nonEmptyCString), env: recordOf(envName, cString), timeoutMs, emulateHostArchitecture: boolean }),
  compress: shape({ upxArgs: arrayOf(cString), upx: nonEmptyCString }),
  images: shape({ ociLayout: cString, ociArchive: cString, dockerArchive: cString, config: imageConfig }),
  extras: shape({ nss: boolean, passwd: boolean, tmp: boolean, caCertificates: boolean, tzdata: boolean, gconv: boolean, dlopenNotes: oneOf(DLOPEN_NOTES) }),
  packageRecords: boolean,
  sbom: shape({ path: nonEmptyCString, format: oneOf(SBOM_FORMATS) }, ["path"]),
  environment: shape({ libraryPath: nullable(cString), preload: nullable(cString) }),
  test: shape({ command: cString, stdin: string, stdout: string, busybox: nonEmptyCString, emulator: nonEmptyCString, timeoutMs, network: oneOf(JAIL_NETWORKS) }),
  log: fn,
  progress,
} satisfies Record<Exclude<keyof BundleOptions, "inputs" | "root">, Check>;

const BUNDLE = shape({ ...COMMON, inputs: arrayOf(nonEmptyCString), root: nonEmptyCString } satisfies Record<keyof BundleOptions, Check>, ["inputs"]);

const FROM_IMAGE = shape({
  ...COMMON,
  source: nonEmptyCString,
  platform: nonEmptyCString,
  roots: arrayOf(shape({ platform: nonEmptyCString, root: nonEmptyCString }, ["platform", "root"])),
  inputs: arrayOf(nonEmptyCString),
  testTools: recordOf(nonEmptyCString, shape({ busybox: nonEmptyCString, emulator: nonEmptyCString })),
  limits: shape({ maxBytes: count, maxEntries: count }, ["maxBytes", "maxEntries"]),
} satisfies Record<keyof FromImageOptions, Check>);

/** Throws a BundleError naming the first option of bundle()'s that is not what BundleOptions says. */
export function checkBundleOptions(options: unknown): asserts options is BundleOptions {
  BUNDLE(options, "options");
}

/** The same for bundleFromImage(). */
export function checkFromImageOptions(options: unknown): asserts options is FromImageOptions {
  FROM_IMAGE(options, "options");
}
