// Scripts as inputs: the kernel runs a file starting with "#!" through the interpreter its first
// line names (fs/binfmt_script.c), which may itself be a script (up to 4 levels deep, as Linux's
// BINPRM_MAX_RECURSION). `#!/usr/bin/env NAME` and `#!/usr/bin/env -S NAME ARGS` run NAME as found
// through PATH: the image's default PATH, searched in the root.

import { closeSync, openSync, readSync } from "node:fs";
import { posix } from "node:path";
import type { RootFs } from "../fs/root.js";
import { DEFAULT_PATH } from "../graph/paths.js";
import { fsPath } from "../fs-name.js";
import { present } from "../present.js";

/** The most interpreters the kernel follows from one exec (binfmt_script + BINPRM_MAX_RECURSION). */
const MAX_DEPTH = 4;

export interface Shebang {
  /** The interpreter's path as written. */
  interpreter: string;
  /** The rest of the line (the kernel passes it as one argument), or null. */
  argument: string | null;
}

/** A link of the chain: the file that names an interpreter and the files it runs. */
export interface ScriptStep {
  /** The script (a canonical path in the root). */
  script: string;
  /** Its "#!" line, for reasons and errors. */
  line: string;
  /** The interpreter as the line names it (the kernel opens it by this path: /bin/sh through /bin -> usr/bin). */
  path: string;
  /** The interpreter's canonical path in the root. */
  interpreter: string;
  /** With /usr/bin/env: the program env runs, found through PATH (canonical path), and its name. */
  program: { name: string; path: string } | null;
}

/** The "#!" line of the file at a canonical guest path, or null when it is not a script. */
export function readShebang(root: RootFs, path: string): (Shebang & { line: string }) | null {
  let head: Buffer;
  const fd = openSync(fsPath(root.hostPath(path)), "r");
  try {
    head = Buffer.alloc(256); // BINPRM_BUF_SIZE
    head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
  } finally {
    closeSync(fd);
  }
  if (head[0] !== 0x23 || head[1] !== 0x21) return null;
  const end = head.indexOf(0x0a);
  const line = head
    .subarray(2, end < 0 ? head.length : end)
    .toString("utf8")
    .replace(/\r$/, "");
  const trimmed = line.replace(/^[ \t]+/, "").replace(/[ \t]+$/, "");
  if (trimmed === "") return null;
  // The interpreter ends at the first space or tab, as in the kernel's load_script (fs/binfmt_script.c).
  const split = trimmed.search(/[ \t]/);
  const interpreter = split < 0 ? trimmed : trimmed.slice(0, split);
  const argument = split < 0 ? null : trimmed.slice(split).replace(/^[ \t]+/, "");
  return { interpreter, argument: argument === "" ? null : argument, line: `#!${line}` };
}

/** The program `env` runs for a "#!/usr/bin/env ARGUMENT" line: its first word that is no option or NAME=VALUE. */
export function envProgram(argument: string | null): string | null {
  if (argument === null) return null;
  // The kernel passes the rest as one argument; env -S (--split-string) splits it again.
  let words = argument.split(/[ \t]+/).filter(Boolean);
  if (words[0] === "-S" || words[0] === "--split-string" || words[0]?.startsWith("-S")) {
    const [first = "", ...rest] = words; // the test above saw a first word
    words = first === "-S" || first === "--split-string" ? rest : [first.slice(2), ...rest];
  } else if (words.length > 1) {
    // Without -S the whole rest is one name (Linux): env looks for a program called "python3 -u".
    words = [argument];
  }
  for (let i = 0; i < words.length; i++) {
    const word = present(words[i], `env argument ${i}`);
    if (word === "-i" || word === "--ignore-environment" || word === "-") continue;
    if (word === "-u" || word === "--unset" || word === "-C" || word === "--chdir") {
      i++;
      continue;
    }
    if (word.startsWith("-")) continue;
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) continue;
    return word;
  }
  return null;
}

/** Where a bare name is found through PATH in the root (an executable regular file), or null. */
export function findInRootPath(root: RootFs, name: string, path = DEFAULT_PATH.slice("PATH=".length)): string | null {
  if (name.includes("/")) return root.tryResolve(name)?.path ?? null;
  for (const dir of path.split(":")) {
    const file = root.tryResolve(posix.join(dir || "/", name));
    if (file?.stats.isFile() && (file.stats.mode & 0o111) !== 0) return posix.join(dir || "/", name);
  }
  return null;
}

export class ScriptError extends Error {}

/**
 * The chain of interpreters that executing `path` goes through, up to the ELF file that finally
 * runs; [] for a file that is not a script. Throws ScriptError for a missing interpreter or a
 * chain deeper than the kernel follows.
 */
export function scriptChain(root: RootFs, path: string): ScriptStep[] {
  const steps: ScriptStep[] = [];
  let current = root.resolve(path).path;
  for (;;) {
    const shebang = readShebang(root, current);
    if (!shebang) return steps;
    if (steps.length === MAX_DEPTH) throw new ScriptError(`more than ${MAX_DEPTH} levels of "#!" interpreters (the kernel stops there)`);
    const interpreter = root.tryResolve(shebang.interpreter, posix.dirname(current));
    if (!interpreter?.stats.isFile()) throw new ScriptError(`its interpreter ${shebang.interpreter} (${shebang.line}) is not in the root`);
    let program: ScriptStep["program"] = null;
    if (posix.basename(interpreter.path) === "env") {
      const name = envProgram(shebang.argument);
      if (name !== null) {
        const found = findInRootPath(root, name);
        if (found === null) throw new ScriptError(`${shebang.line}: ${name} is not found through PATH (${DEFAULT_PATH.slice(5)}) in the root`);
        program = { name, path: found };
      }
    }
    const named = posix.isAbsolute(shebang.interpreter) ? posix.normalize(shebang.interpreter) : interpreter.path;
    steps.push({ script: current, line: shebang.line, path: named, interpreter: interpreter.path, program });
    current = interpreter.path;
  }
}
