// The API reference (docs/api.md) kept in step with the package, and the README's command line
// reference kept in step with `magicpak --help`.
//
// docs/api.md documents a name by a `###` heading holding it in backticks, or by the first column of
// a table whose first header is "Constant" (with its value in the second column). A name with a
// heading is declared in a ```ts block; ```ts blocks that import from "magicpak" are examples.
// Checked here:
//   - every name lib/index.ts exports is documented, and every documented name is exported by the
//     built package: types by its declaration file, values by `import("magicpak")` at run time;
//   - each declaration matches the package's (mutually assignable; a class's public members and
//     constructor parameters), and each constant's value is its value at run time;
//   - every example type-checks against the package (TypeScript, strict).

import t from "tap";
import ts from "typescript";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

const root = fileURLToPath(new URL("../../../", import.meta.url));
/** The package by its name (its self-reference), as a user imports it; a variable, so tsc does not resolve it at build time. */
const packageName = "magicpak";
const docPath = join(root, "docs/api.md");
const doc = readFileSync(docPath, "utf8");

// ------------------------------------------------------------------------------------------ the page

interface Block {
  /** 1-based line of the block's first content line in docs/api.md. */
  line: number;
  info: string;
  text: string;
}

interface Documented {
  name: string;
  line: number;
  by: "heading" | "constant";
  /** The Value column of a constant. */
  value?: string;
}

function parseDoc(text: string): { blocks: Block[]; documented: Documented[] } {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  const documented: Documented[] = [];
  let inConstantTable = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^```(.*)$/.exec(line);
    if (fence) {
      const start = i + 1;
      let end = start;
      while (end < lines.length && !lines[end]!.startsWith("```")) end++;
      blocks.push({ line: start + 1, info: fence[1]!.trim(), text: lines.slice(start, end).join("\n") });
      i = end;
      inConstantTable = false;
      continue;
    }
    if (/^### /.test(line)) {
      for (const m of line.matchAll(/`([A-Za-z_$][\w$]*)`/g)) documented.push({ name: m[1]!, line: i + 1, by: "heading" });
    }
    if (!line.startsWith("|")) {
      inConstantTable = false;
      continue;
    }
    const cells = line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim());
    if (/^-+$/.test(cells[0] ?? "")) continue;
    if (cells[0] === "Constant") {
      inConstantTable = true;
      continue;
    }
    if (!inConstantTable) continue;
    const name = /^`([A-Za-z_$][\w$]*)`$/.exec(cells[0] ?? "")?.[1];
    const value = /^`(.*)`$/.exec(cells[1] ?? "")?.[1];
    if (name) documented.push({ name, line: i + 1, by: "constant", ...(value !== undefined ? { value } : {}) });
  }
  return { blocks, documented };
}

const { blocks, documented } = parseDoc(doc);
const tsBlocks = blocks.filter((b) => b.info === "ts");
const isExample = (b: Block) => /\bfrom "magicpak"/.test(b.text);
const examples = tsBlocks.filter(isExample);
const declarations = tsBlocks.filter((b) => !isExample(b));
const headingNames = new Set(documented.filter((d) => d.by === "heading").map((d) => d.name));
const documentedNames = new Set(documented.map((d) => d.name));

// ------------------------------------------------------------------------------------------ the compiler

const compilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ["lib.es2023.d.ts"],
  types: ["node"],
  typeRoots: [join(root, "node_modules/@types")],
  strict: true,
  skipLibCheck: true,
  noEmit: true,
};

/** Files that exist only in memory, placed in docs/ so that "magicpak" resolves as for a user (the package's self-reference). */
const virtual = new Map<string, string>();
const host = ts.createCompilerHost(compilerOptions, true);
const { getSourceFile, fileExists, readFile } = host;
host.getSourceFile = (name, language, onError, create) => {
  const text = virtual.get(name);
  return text !== undefined ? ts.createSourceFile(name, text, language, true) : getSourceFile.call(host, name, language, onError, create);
};
host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
host.readFile = (name) => virtual.get(name) ?? readFile.call(host, name);

type Kind = "class" | "function" | "variable" | "type";

function exportsOf(program: ts.Program, file: string): Map<string, Kind> {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  if (!source) throw new Error(`${file} is not in the program`);
  const symbol = checker.getSymbolAtLocation(source);
  const out = new Map<string, Kind>();
  for (const exported of symbol ? checker.getExportsOfModule(symbol) : []) {
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const f = target.flags;
    out.set(exported.name, f & ts.SymbolFlags.Class ? "class" : f & ts.SymbolFlags.Function ? "function" : f & ts.SymbolFlags.Variable ? "variable" : "type");
  }
  return out;
}

const sourceEntry = join(root, "lib/index.ts");
const builtEntry = join(root, "dist/lib/index.d.ts");
const first = ts.createProgram([sourceEntry, builtEntry], compilerOptions, host);
const sourceExports = exportsOf(first, sourceEntry);
const builtExports = exportsOf(first, builtEntry);

/** Where each line of a virtual file comes from, for messages. */
const origins = new Map<string, ({ docLine: number } | { check: string } | null)[]>();

// The declarations, in a namespace of their own, and one check per documented name against the
// package's. A class is declared as NAME__doc so that references to it elsewhere in the page mean
// the package's class (whose private members make it nominal).
const declarationFile = join(root, "docs", "__api_declarations__.ts");
{
  const lines: string[] = [];
  const origin: ({ docLine: number } | { check: string } | null)[] = [];
  const push = (text: string, from: { docLine: number } | { check: string } | null) => {
    lines.push(text);
    origin.push(from);
  };
  push(`import type { Stats } from "node:fs";`, null);
  push(`import { Transform } from "node:stream";`, null);
  push(`import * as M from "magicpak";`, null);
  push(`import { ${[...builtExports.keys()].join(", ")} } from "magicpak";`, null);
  push(`declare namespace Doc {`, null);
  for (const block of declarations) {
    block.text.split("\n").forEach((text, i) => push(text.replace(/^(\s*)class (\w+)/, "$1class $2__doc"), { docLine: block.line + i }));
  }
  push(`}`, null);
  push(`type __Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;`, null);
  // Public members, methods as their parameter lists (so that a missing optional parameter counts)
  // and return types, a method returning `this` (a stream's on(), ...) as the same marker on both sides.
  push(`type __Public<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? [parameters: A, returns: [R] extends [T] ? "this" : R] : T[K] };`, null);
  push(`declare function __same<A, B>(...mismatch: __Same<A, B> extends true ? [] : [the_documented_type_differs: never]): void;`, null);
  for (const name of [...headingNames].sort()) {
    const kind = builtExports.get(name);
    if (kind === undefined) continue; // reported as not exported
    if (kind === "class") {
      push(`__same<__Public<Doc.${name}__doc>, __Public<M.${name}>>();`, { check: name });
      push(`__same<ConstructorParameters<typeof Doc.${name}__doc>, ConstructorParameters<typeof M.${name}>>();`, { check: `${name} (constructor)` });
    } else if (kind === "type") {
      push(`__same<Doc.${name}, M.${name}>();`, { check: name });
    } else if (kind === "function") {
      push(`__same<Parameters<typeof Doc.${name}>, Parameters<typeof M.${name}>>();`, { check: `${name} (parameters)` });
      push(`__same<ReturnType<typeof Doc.${name}>, ReturnType<typeof M.${name}>>();`, { check: `${name} (return type)` });
    } else {
      push(`__same<typeof Doc.${name}, typeof M.${name}>();`, { check: name });
    }
  }
  push(`export {};`, null);
  virtual.set(declarationFile, lines.join("\n"));
  origins.set(declarationFile, origin);
}
const exampleFiles = examples.map((block) => {
  const file = join(root, "docs", `__api_example_line_${block.line}__.ts`);
  virtual.set(file, `${block.text}\nexport {};\n`);
  origins.set(
    file,
    block.text.split("\n").map((_, i) => ({ docLine: block.line + i })),
  );
  return file;
});
const program = ts.createProgram([sourceEntry, builtEntry, ...virtual.keys()], compilerOptions, host, first);

function diagnostics(file: string): string[] {
  const source = program.getSourceFile(file)!;
  const origin = origins.get(file)!;
  return ts.getPreEmitDiagnostics(program, source).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n  ");
    if (d.start === undefined) return text;
    const from = origin[source.getLineAndCharacterOfPosition(d.start).line];
    if (from && "docLine" in from) return `docs/api.md:${from.docLine}: ${text}`;
    if (from && "check" in from) return `docs/api.md: the declaration of ${from.check} does not match the package's: ${text}`;
    return `docs/api.md (generated check file): ${text}`;
  });
}

// ------------------------------------------------------------------------------------------ the tests

t.test("every name lib/index.ts exports is documented in docs/api.md", async (t) => {
  t.ok(sourceExports.size > 100, `lib/index.ts exports ${sourceExports.size} names`);
  const undocumented = [...sourceExports.keys()].filter((name) => !documentedNames.has(name));
  t.same(undocumented, [], "add a ### `NAME` section (with its declaration) or a row of a Constant table to docs/api.md for each");
});

t.test("every name docs/api.md documents is exported by the built package", async (t) => {
  const runtime = (await import(packageName)) as Record<string, unknown>;
  const missing = documented.filter((d) => !builtExports.has(d.name)).map((d) => `docs/api.md:${d.line}: ${d.name}`);
  t.same(missing, [], "documented but not exported by dist/lib/index.d.ts");
  const values = documented.filter((d) => builtExports.get(d.name) !== "type" && builtExports.has(d.name));
  t.ok(values.length > 100, `${values.length} documented values`);
  const absent = values.filter((d) => runtime[d.name] === undefined).map((d) => d.name);
  t.same(absent, [], 'documented values that import("magicpak") does not give');
  // The built package is the source's: no name only one of them has.
  t.same([...builtExports.keys()].sort(), [...sourceExports.keys()].sort(), "dist/lib/index.d.ts exports what lib/index.ts does (rebuild with npx tsc -p .)");
  const runtimeNames = Object.keys(runtime).sort();
  t.same(
    runtimeNames,
    [...builtExports]
      .filter(([, kind]) => kind !== "type")
      .map(([name]) => name)
      .sort(),
    "and the module gives every value it declares",
  );
});

t.test("each documented name is documented once, with a declaration where it has a heading", async (t) => {
  const seen = new Map<string, number>();
  const twice: string[] = [];
  for (const d of documented) {
    if (seen.has(d.name)) twice.push(`docs/api.md:${d.line}: ${d.name} (also line ${seen.get(d.name)})`);
    else seen.set(d.name, d.line);
  }
  t.same(twice, [], "documented twice");
  const declared = new Set<string>();
  for (const block of declarations) {
    for (const m of block.text.matchAll(/^\s*(?:function|class|interface|type|const)\s+([A-Za-z_$][\w$]*)/gm)) declared.add(m[1]!);
  }
  const undeclared = [...headingNames].filter((n) => !declared.has(n));
  t.same(undeclared, [], "names with a heading but no declaration in a ts block");
});

t.test("the declarations in docs/api.md match the package's", async (t) => {
  const checks = virtual
    .get(declarationFile)!
    .split("\n")
    .filter((l) => l.startsWith("__same<")).length;
  t.ok(checks >= headingNames.size, `${checks} checks for ${headingNames.size} names with a heading`);
  t.same(diagnostics(declarationFile), []);
});

t.test("the constants in docs/api.md have their values", async (t) => {
  const runtime = (await import(packageName)) as Record<string, unknown>;
  const constants = documented.filter((d) => d.by === "constant");
  t.ok(constants.length > 100, `${constants.length} constants`);
  const wrong: string[] = [];
  for (const c of constants) {
    if (c.value === undefined) {
      wrong.push(`docs/api.md:${c.line}: ${c.name} has no \`value\` in its second column`);
      continue;
    }
    const documentedValue: unknown = new Function("Buffer", `return (${c.value});`)(Buffer);
    if (!isDeepStrictEqual(documentedValue, runtime[c.name])) wrong.push(`docs/api.md:${c.line}: ${c.name} is ${String(runtime[c.name])}, not ${c.value}`);
  }
  t.same(wrong, []);
});

t.test("the examples in docs/api.md type-check against the package", async (t) => {
  t.ok(examples.length >= 12, `${examples.length} examples`);
  const names = new Set(examples.flatMap((b) => [...b.text.matchAll(/import \{([^}]*)\} from "magicpak"/g)].flatMap((m) => m[1]!.split(",").map((n) => n.trim()))));
  for (const main of ["readElf", "RootFs", "Loader", "formatTrace", "formatTree", "bundle", "FileGraph", "writeOciLayout", "compressFile", "traceProgram", "nativeStatus", "PathError"]) {
    t.ok(names.has(main), `an example uses ${main}`);
  }
  for (const file of exampleFiles) t.same(diagnostics(file), [], `the example at ${file.replace(/.*line_(\d+)__\.ts$/, "docs/api.md:$1")}`);
});

// ------------------------------------------------------------------------------------------ the CLI

t.test("every option magicpak --help lists is in the README's command line reference", async (t) => {
  const help = spawnSync(process.execPath, [join(root, "bin/magicpak.js"), "--help"], { encoding: "utf8" });
  t.equal(help.status, 0, help.stderr);
  const options = help.stdout
    .split("\n")
    .map((line) => /^\s+(?:(-\w), )?(--[a-z][\w-]*)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ short: m[1], long: m[2]! }));
  t.ok(options.length > 40, `--help lists ${options.length} options`);
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const mentions = (text: string) => new RegExp(`(?<![\\w-])${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\w-])`).test(readme);
  t.same(
    options.filter((o) => !mentions(o.long)).map((o) => o.long),
    [],
    "options --help lists and README.md does not",
  );
  t.same(
    options.filter((o) => o.short && !mentions(`${o.short}, ${o.long}`)).map((o) => `${o.short}, ${o.long}`),
    [],
    "short options README.md does not give as `-x, --long`",
  );

  // The other way: the options the README's synopsis blocks (fenced blocks starting with `magicpak `)
  // describe, one a line, are all options --help lists.
  const known = new Set(options.map((o) => o.long));
  const synopses = parseDoc(readme).blocks.filter((b) => /^(Usage: )?magicpak /.test(b.text.trimStart()));
  t.ok(synopses.length >= 2, `${synopses.length} synopsis blocks in README.md`);
  const described = synopses.flatMap((b) =>
    b.text
      .split("\n")
      .map((line) => /^\s+(?:-\w, )?(--[a-z][\w-]*)/.exec(line)?.[1])
      .filter((o): o is string => o !== undefined),
  );
  t.ok(described.length > 30, `${described.length} options described in README.md's synopses`);
  const stale = [...new Set(described)].filter((o) => !known.has(o));
  t.same(stale, [], "options in README.md's synopses that --help does not list");
});

t.test("the README links the API reference", async (t) => {
  t.match(readFileSync(join(root, "README.md"), "utf8"), /\]\(docs\/api\.md\)/);
});
