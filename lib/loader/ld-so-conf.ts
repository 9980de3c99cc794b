// Parser of glibc's /etc/ld.so.conf as ldconfig reads it (elf/ldconfig.c parse_conf,
// parse_conf_include and add_dir_1), through a RootFs so that every file, include and glob stays
// inside the root, as when ldconfig runs in it (ldconfig -r ROOT chroots itself when it can).
//
// The result is the list of directory lines in the order ldconfig meets them, each with the file
// and line it came from. ldconfig then drops the directories that do not exist and the repeats of
// one directory (by device and inode), adds their glibc-hwcaps subdirectories and appends its
// built-in system directories: that is the loader's business, not the file's.

import { PathError } from "../errors.js";
import { dirnameOf, RootPathError, type RootFs } from "../fs/root.js";
import { present } from "../present.js";

/** A configuration that cannot be read as ldconfig would without going wrong (include loops, absurd sizes). */
export class LdSoConfError extends PathError {
  override readonly name = "LdSoConfError";
}

export interface ConfDirectory {
  /** As ldconfig keeps it: leading and trailing whitespace and trailing slashes removed, "=TYPE" split off. */
  path: string;
  /** The text after the first '=' (libc4, libc5, libc6, glibc2, or anything else ldconfig warns about); null without '='. */
  type: string | null;
  /** The configuration file that lists it, as ldconfig names it (the include pattern's expansion). */
  file: string;
  /** Its line in that file, from 1. */
  line: number;
}

export interface LdSoConf {
  directories: ConfDirectory[];
  /** Every configuration file read, in order (a file included twice is read twice, as ldconfig does). */
  files: string[];
  /** What ldconfig would warn about: hwcap lines, unknown library types, files that cannot be opened. */
  warnings: string[];
}

/** The library types add_dir_1 knows after '=' (lib_types in elf/ldconfig.c). */
const LIBRARY_TYPES = ["libc4", "libc5", "libc6", "glibc2"];
/** Bounds that keep a hostile configuration from making the parser loop or allocate without limit. */
const MAX_DEPTH = 64;
const MAX_FILES = 1024;
const MAX_FILE_BYTES = 1 << 20;
const MAX_TOTAL_BYTES = 16 << 20;
/** Paths that include patterns may expand to, in all: '.', '..' and '*' make the expansion exponential. */
const MAX_GLOB_PATHS = 4096;

/** isspace in the C locale. */
const isSpace = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\v" || c === "\f" || c === "\r";
/** isblank in the C locale. */
const isBlank = (c: string | undefined) => c === " " || c === "\t";

interface State {
  root: RootFs;
  result: LdSoConf;
  /** Canonical paths of the files being read, outermost first. */
  stack: string[];
  bytes: number;
  glob: GlobBudget;
}

/**
 * Reads `path` (default /etc/ld.so.conf) and everything it includes as ldconfig would. A missing
 * file gives no directories. Throws LdSoConfError and nothing else.
 */
export function parseLdSoConf(root: RootFs, path = "/etc/ld.so.conf"): LdSoConf {
  const state: State = { root, result: { directories: [], files: [], warnings: [] }, stack: [], bytes: 0, glob: { paths: MAX_GLOB_PATHS } };
  try {
    parseFile(state, path);
  } catch (error) {
    if (error instanceof LdSoConfError) throw error;
    // A bug of ours, not a defect of the configuration; still never let it escape untyped.
    throw new LdSoConfError(path, `internal error: ${(error as Error)?.message ?? String(error)}`);
  }
  return state.result;
}

/** parse_conf: one file, line by line. */
function parseFile(state: State, file: string): void {
  const { root, result } = state;
  const resolved = root.lookup(file);
  if (resolved instanceof RootPathError) {
    if (resolved.code !== "ENOENT") result.warnings.push(`ignoring configuration file that cannot be opened: ${file}`);
    return;
  }
  // fopen succeeds on a directory and the first read fails: nothing is read, nothing is said.
  if (resolved.stats.isDirectory()) return;
  if (!resolved.stats.isFile()) {
    result.warnings.push(`ignoring configuration file that is not a regular file: ${file}`);
    return;
  }
  if (state.stack.includes(resolved.path)) {
    throw new LdSoConfError(file, `includes itself (${[...state.stack, resolved.path].join(" -> ")})`);
  }
  if (state.stack.length >= MAX_DEPTH) throw new LdSoConfError(file, `includes nested deeper than ${MAX_DEPTH} files`);
  if (result.files.length >= MAX_FILES) throw new LdSoConfError(file, `more than ${MAX_FILES} configuration files read`);
  if (resolved.stats.size > MAX_FILE_BYTES) throw new LdSoConfError(file, `larger than ${MAX_FILE_BYTES} bytes`);
  const bytes = root.readFile(file);
  if (bytes === null) {
    result.warnings.push(`ignoring configuration file that cannot be opened: ${file}`);
    return;
  }
  state.bytes += bytes.length;
  if (state.bytes > MAX_TOTAL_BYTES) throw new LdSoConfError(file, `configuration files larger than ${MAX_TOTAL_BYTES} bytes in all`);
  result.files.push(file);
  state.stack.push(resolved.path);
  const lines = bytes.toString("utf8").split("\n");
  // getline: a final newline ends the last line, it does not start another.
  if (lines[lines.length - 1] === "") lines.pop();
  lines.forEach((raw, index) => parseLine(state, file, index + 1, raw));
  state.stack.pop();
}

function parseLine(state: State, file: string, lineno: number, raw: string): void {
  // C strings: a NUL ends the line; '#' starts a comment anywhere (there is no quoting).
  let line = raw;
  const nul = line.indexOf("\0");
  if (nul >= 0) line = line.slice(0, nul);
  const hash = line.indexOf("#");
  if (hash >= 0) line = line.slice(0, hash);
  let start = 0;
  while (isSpace(line[start])) start++;
  line = line.slice(start);
  if (line === "") return;
  if (line.startsWith("include") && isBlank(line[7])) {
    for (const pattern of line.slice(8).split(/[ \t]/)) if (pattern !== "") parseInclude(state, file, pattern);
  } else if (/^[Hh][Ww][Cc][Aa][Pp][ \t]/.test(line)) {
    state.result.warnings.push(`${file}:${lineno}: hwcap directive ignored`);
  } else {
    addDirectory(state, line, file, lineno);
  }
}

/** parse_conf_include: a relative pattern is taken from the including file's directory; matches in sorted order. */
function parseInclude(state: State, file: string, pattern: string): void {
  // parse_conf_include: asprintf("%s/%s", dirname(config_file), pattern); dirname(3) drops the
  // slashes that end the directory part ("/etc/ld.so.conf.d//x.conf" gives "/etc/ld.so.conf.d").
  const absolute = !pattern.startsWith("/") && file.includes("/") ? `${posixDirname(file)}/${pattern}` : pattern;
  for (const match of globInRoot(state.root, absolute, state.glob)) parseFile(state, match);
}

/** add_dir_1. */
function addDirectory(state: State, text: string, file: string, line: number): void {
  let path = text;
  let type: string | null = null;
  const equal = path.indexOf("=");
  if (equal >= 0) {
    type = path.slice(equal + 1);
    path = path.slice(0, equal);
    if (!LIBRARY_TYPES.includes(type)) state.result.warnings.push(`${type} is not a known library type`);
  }
  let end = path.length;
  while (end > 0 && isSpace(path[end - 1])) end--;
  while (end > 0 && path[end - 1] === "/") end--;
  if (end === 0) return;
  state.result.directories.push({ path: path.slice(0, end), type, file, line });
}

// glob(3) with flags 0, as parse_conf_include calls it: '*', '?' and bracket expressions per path
// component (fnmatch with FNM_PERIOD: a leading '.' only matches a '.' written out), backslash
// escapes, results sorted by strcmp (ldconfig keeps LC_COLLATE=C). Only matching names are
// returned; whether they can be read is the reader's concern.

type Token = { kind: "char"; char: string } | { kind: "any" } | { kind: "star" } | { kind: "set"; negated: boolean; chars: string[]; ranges: [number, number][]; classes: string[] };

interface Component {
  /** null when the component has no wildcard: its text, unescaped. */
  tokens: Token[] | null;
  literal: string;
  /** A pattern fnmatch refuses (a trailing backslash, an unknown character class): it matches nothing. */
  invalid: boolean;
}

const CLASSES: Record<string, (c: number) => boolean> = {
  alnum: (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122),
  alpha: (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122),
  blank: (c) => c === 32 || c === 9,
  cntrl: (c) => c < 32 || c === 127,
  digit: (c) => c >= 48 && c <= 57,
  graph: (c) => c > 32 && c < 127,
  lower: (c) => c >= 97 && c <= 122,
  print: (c) => c >= 32 && c < 127,
  punct: (c) => c > 32 && c < 127 && !((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)),
  space: (c) => c === 32 || (c >= 9 && c <= 13),
  upper: (c) => c >= 65 && c <= 90,
  xdigit: (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102),
};

function parseComponent(text: string): Component {
  const chars = [...text];
  const tokens: Token[] = [];
  let literal = "";
  let magic = false;
  let invalid = false;
  for (let i = 0; i < chars.length; i++) {
    const c = present(chars[i], `pattern character ${i}`);
    if (c === "\\") {
      if (i + 1 >= chars.length) {
        invalid = true;
        break;
      }
      const escaped = present(chars[++i], `pattern character ${i}`);
      tokens.push({ kind: "char", char: escaped });
      literal += escaped;
    } else if (c === "*") {
      magic = true;
      if (tokens[tokens.length - 1]?.kind !== "star") tokens.push({ kind: "star" });
    } else if (c === "?") {
      magic = true;
      tokens.push({ kind: "any" });
    } else if (c === "[") {
      const set = parseBracket(chars, i + 1);
      if (set === null) {
        tokens.push({ kind: "char", char: c });
        literal += c;
      } else {
        magic = true;
        if (set.invalid) invalid = true;
        tokens.push(set.token);
        i = set.end;
      }
    } else {
      tokens.push({ kind: "char", char: c });
      literal += c;
    }
  }
  return { tokens: magic ? tokens : null, literal, invalid };
}

/** A bracket expression starting after '[': the token and the index of its ']', or null when it is not closed. */
function parseBracket(chars: string[], start: number): { token: Token & { kind: "set" }; end: number; invalid: boolean } | null {
  const token: Token & { kind: "set" } = { kind: "set", negated: false, chars: [], ranges: [], classes: [] };
  let invalid = false;
  let i = start;
  if (chars[i] === "!" || chars[i] === "^") {
    token.negated = true;
    i++;
  }
  let first = true;
  for (; i < chars.length; i++) {
    let c = present(chars[i], `bracket character ${i}`);
    if (c === "]" && !first) return { token, end: i, invalid };
    first = false;
    if (c === "[" && chars[i + 1] === ":") {
      const close = chars.indexOf(":", i + 2);
      if (close >= 0 && chars[close + 1] === "]") {
        const name = chars.slice(i + 2, close).join("");
        if (CLASSES[name]) token.classes.push(name);
        else invalid = true;
        i = close + 1;
        continue;
      }
    }
    if (c === "\\") {
      if (i + 1 >= chars.length) return null;
      c = present(chars[++i], `bracket character ${i}`);
    }
    const rangeEnd = chars[i + 2];
    if (chars[i + 1] === "-" && rangeEnd !== undefined && rangeEnd !== "]") {
      let hi = rangeEnd;
      i += 2;
      if (hi === "\\") {
        if (i + 1 >= chars.length) return null;
        hi = present(chars[++i], `bracket character ${i}`);
      }
      token.ranges.push([codePoint(c), codePoint(hi)]);
      continue;
    }
    token.chars.push(c);
  }
  return null;
}

function matchesOne(token: Token, c: string): boolean {
  switch (token.kind) {
    case "char":
      return token.char === c;
    case "any":
    case "star":
      return true;
    case "set": {
      const code = codePoint(c);
      const inSet = token.chars.includes(c) || token.ranges.some(([lo, hi]) => code >= lo && code <= hi) || token.classes.some((name) => present(CLASSES[name], `character class [:${name}:]`)(code));
      return inSet !== token.negated;
    }
  }
}

/** fnmatch(pattern, name, FNM_PERIOD) for one component, in O(pattern x name) steps. */
function matchComponent(tokens: Token[], name: string): boolean {
  const chars = [...name];
  if (chars[0] === "." && !(tokens[0]?.kind === "char" && tokens[0].char === ".")) return false;
  let t = 0;
  let n = 0;
  let starT = -1;
  let starN = 0;
  while (n < chars.length) {
    const token = tokens[t];
    if (token?.kind === "star") {
      starT = t++;
      starN = n;
    } else if (token !== undefined && matchesOne(token, present(chars[n], `name character ${n}`))) {
      t++;
      n++;
    } else if (starT >= 0) {
      t = starT + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === "star") t++;
  return t === tokens.length;
}

export interface GlobBudget {
  /** How many more paths (intermediate ones included) the expansion may build. */
  paths: number;
}

/**
 * The paths a glob pattern expands to inside the root, sorted; none when nothing matches.
 * Throws LdSoConfError when the expansion builds more paths than the budget allows.
 */
export function globInRoot(root: RootFs, pattern: string, budget: GlobBudget = { paths: MAX_GLOB_PATHS }): string[] {
  // "pattern/": glob expands "pattern" with GLOB_MARK. With a wildcard only directories are kept;
  // without one the path is given back as it is, so "include /etc/a.conf/" reads /etc/a.conf.
  if (pattern.length > 1 && pattern.endsWith("/")) {
    const stripped = pattern.slice(0, -1);
    const magic = stripped.split("/").some((c) => parseComponent(c).tokens !== null);
    const isDirectory = (path: string) => root.tryResolve(path)?.stats.isDirectory() === true;
    const paths = globInRoot(root, stripped, budget).map((path) => (isDirectory(path) ? `${path}/` : path));
    return magic ? paths.filter((path) => path.endsWith("/")) : paths;
  }
  const components = pattern.split("/").map(parseComponent);
  if (components.some((c) => c.invalid)) return [];
  // Paths built so far, as text: literal components as written (unescaped), wildcards as matched.
  let prefixes: string[] = [""];
  components.forEach((component, index) => {
    const next: string[] = [];
    const add = (path: string) => {
      if (--budget.paths < 0) throw new LdSoConfError(pattern, `include patterns expand to more than ${MAX_GLOB_PATHS} paths`);
      next.push(path);
    };
    for (const prefix of prefixes) {
      const joined = index === 0 ? "" : `${prefix}/`;
      if (component.tokens === null) {
        add(joined + component.literal);
        continue;
      }
      const names = root.listDirectory(prefix === "" ? (index === 0 ? "." : "/") : prefix);
      if (!names) continue;
      // readdir gives "." and "..", which only a pattern starting with '.' matches.
      for (const name of [".", "..", ...names]) if (matchComponent(component.tokens, name)) add(joined + name);
    }
    prefixes = next;
  });
  // Literal components after the last wildcard (or a pattern without any) are checked with lstat.
  const existing = prefixes.filter((path) => !(root.lookup(path, "/", false) instanceof RootPathError));
  return existing.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** dirname(3): the path without its last component and the slashes before it ("/" stays "/"). */
function posixDirname(path: string): string {
  return dirnameOf(path).replace(/(.)\/+$/, "$1");
}

/** The code point of `c`, one character of a pattern or a name (never empty). */
function codePoint(c: string): number {
  return present(c.codePointAt(0), "code point of an empty character");
}
