// The command line read by the option table (bin/options.ts): value options and positionals first,
// verbatim, then cac for the flags (alone or clustered, -tv), then every value checked and typed.

import { cac } from "cac";
import { OPTIONS, UsageError, keyOf, takesValue, type CliOptions, type OptionSpec } from "./options.js";
import { suggestOption } from "../lib/report/suggest.js";
import { present } from "../lib/present.js";

export interface CommandLine {
  options: CliOptions;
  paths: string[];
  /** The options given without the flag they need ("--test-stdout" without --test). */
  orphans: string[];
}

const BY_LONG = new Map<string, OptionSpec>(OPTIONS.map((o) => [`--${o.long}`, o]));
const BY_SHORT = new Map<string, OptionSpec>(OPTIONS.flatMap((o) => ("short" in o ? [[`-${o.short}`, o] as const] : [])));
const BY_KEY = new Map<string, OptionSpec>(OPTIONS.flatMap((o) => [[keyOf(o.long), o] as const, ...("short" in o ? [[o.short, o] as const] : [])]));

export function parseCommandLine(argv: string[]): CommandLine {
  // The value options are taken out first, verbatim: the option parser would turn "007" into 7
  // and "true" into a flag, and read "--help" after --dynamic-arg as a flag.
  const values = new Map<OptionSpec, string[]>();
  const rest: string[] = [];
  // Positionals are taken here too: the option parser reads "--tree true" as --tree=true.
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = present(argv[i], `argument ${i}`);
    if (arg === "--") {
      paths.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      paths.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const long = arg.startsWith("--");
    // -iGLOB and -i=GLOB as well as -i GLOB.
    const name = long ? (eq > 0 ? arg.slice(0, eq) : arg) : arg.slice(0, 2);
    const spec = long ? BY_LONG.get(name) : BY_SHORT.get(name);
    if (long && spec === undefined) throw unknownOption(name);
    if (spec === undefined || !takesValue(spec)) {
      if (long && eq > 0) throw new UsageError(`${name} takes no value`);
      rest.push(arg);
      continue;
    }
    const attached = long ? (eq > 0 ? arg.slice(eq + 1) : undefined) : arg.length > 2 ? arg.slice(arg[2] === "=" ? 3 : 2) : undefined;
    let value = attached;
    if (value === undefined) {
      value = argv[i + 1];
      // A following option is no value, unless this option's values may start with '-'.
      if (value === undefined || (!spec.hyphen && value.length > 1 && value.startsWith("-"))) throw new UsageError(`--${spec.long} requires a value`);
      i++;
    }
    const list = values.get(spec) ?? [];
    list.push(value);
    values.set(spec, list);
  }

  const cli = cac("magicpak");
  const command = cli.command("[...paths]");
  for (const spec of OPTIONS) {
    const names = `${"short" in spec ? `-${spec.short}, ` : ""}--${spec.long}${takesValue(spec) ? ` <${spec.value}>` : ""}`;
    command.option(names, spec.help, takesValue(spec) ? { type: [String] } : undefined);
  }
  let parsed;
  try {
    parsed = cli.parse(["node", "magicpak", ...rest], { run: false });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.args.length > 0) throw new UsageError(`unexpected ${JSON.stringify(parsed.args[0])}`);
  const raw = parsed.options as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (key !== "--" && !BY_KEY.has(key)) throw unknownOption(key.length === 1 ? `-${key}` : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  }

  const result: Record<string, unknown> = {};
  const needs: [string, string][] = [];
  for (const spec of OPTIONS) {
    const key = keyOf(spec.long);
    const name = `--${spec.long}`;
    if (!takesValue(spec)) {
      const value = raw[key];
      if (value !== undefined && typeof value !== "boolean") throw new UsageError(`${name} takes no value`);
      result[key] = value ?? spec.long.startsWith("no-");
      continue;
    }
    // The parser still sees what the pre-pass leaves, such as a value option inside a cluster (-ti).
    const seen = raw[key] === undefined ? [] : ([] as unknown[]).concat(raw[key]);
    if (seen.some((v) => v === "" || v === "true" || v === "undefined" || typeof v === "boolean")) throw new UsageError(`${name} requires a value`);
    const given = [...(values.get(spec) ?? []), ...seen.map(String)];
    if (given.length > 1 && !spec.repeatable) throw new UsageError(`${name} may be given once`);
    const typed = given.map((v) => (spec.parse ? spec.parse(v, name) : v));
    result[key] = spec.repeatable ? typed : typed[0];
    if (given.length > 0 && spec.requires !== undefined) needs.push([name, spec.requires]);
  }
  return {
    options: result as CliOptions,
    paths,
    orphans: needs.filter(([, flag]) => result[keyOf(flag)] !== true).map(([name]) => name),
  };
}

function unknownOption(name: string): UsageError {
  const near = suggestOption(
    name,
    OPTIONS.flatMap((o) => [`--${o.long}`, ...("short" in o ? [`-${o.short}`] : [])]),
  );
  return new UsageError(`unknown option ${name} (${near.length ? `did you mean ${near.join(" or ")}?` : "see --help"})`);
}
