// The examples/ Dockerfiles without a Docker engine: each one's `RUN ... magicpak ...` command is
// run with this checkout's CLI (programs from the host, or from the provisioned amd64 root when
// the host lacks them), then the final FROM scratch stage's ENTRYPOINT/CMD and the --test command
// run in a fresh jail of the test's own making (the bundle plus busybox, test/support/scratch-jail.ts).
// Expected outputs: the same commands run outside the jail, on the program the example bundles.

import t, { type Test } from "tap";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { fixture } from "../support/fixtures.js";
import { bundleStats, describeStats, magicpakCli, pathInJail, runProcess, shellQuote, SYSTEM_PATH, withFreshJail, type ProcessResult } from "../support/scratch-jail.js";

const examples = new URL("../../../examples/", import.meta.url).pathname;
const EXPECTED = ["clang-format", "jq", "patchelf"];

const work = mkdtempSync(join(tmpdir(), "magicpak-e2e-examples-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

// ---------------------------------------------------------------------------- Dockerfile reading

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  from: string;
  name: string | null;
  instructions: Instruction[];
}

/** Stages and instructions: comment lines dropped, `\` continuations joined. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = "";
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line)) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    if (full !== "") logical.push(full);
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!;
    if (keyword === "FROM") {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`cannot read FROM ${args}`);
      stages.push({ from: f[1]!, name: f[2] ?? null, instructions: [] });
      continue;
    }
    if (keyword === "ARG" && stages.length === 0) continue;
    const stage = stages[stages.length - 1];
    if (!stage) throw new Error(`${keyword} before FROM`);
    stage.instructions.push({ keyword, args });
  }
  return stages;
}

/**
 * Shell words of a command line, with the operators `&&`, `||`, `;` and `|` as words of their own.
 * Quotes as sh reads them; the only substitution understood is `$(which NAME)`.
 */
function shellWords(line: string, which: (name: string) => string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  const push = (s: string) => (word = (word ?? "") + s);
  const substitution = (i: number): [string, number] => {
    const close = line.indexOf(")", i);
    const inner = line.slice(i + 2, close).trim();
    const m = /^which\s+([\w.+-]+)$/.exec(inner);
    if (close < 0 || !m) throw new Error(`unsupported substitution in ${line}`);
    return [which(m[1]!), close + 1];
  };
  for (let i = 0; i < line.length;) {
    const c = line[i]!;
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
      i++;
    } else if (line.startsWith("&&", i) || line.startsWith("||", i)) {
      if (word !== null) words.push(word);
      word = null;
      words.push(line.slice(i, i + 2));
      i += 2;
    } else if (c === ";" || c === "|") {
      if (word !== null) words.push(word);
      word = null;
      words.push(c);
      i++;
    } else if (c === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) throw new Error(`unterminated ' in ${line}`);
      push(line.slice(i + 1, close));
      i = close + 1;
    } else if (c === '"') {
      push("");
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === "\\" && /["\\$`]/.test(line[i + 1] ?? "")) {
          push(line[i + 1]!);
          i += 2;
        } else if (line.startsWith("$(", i)) {
          const [value, next] = substitution(i);
          push(value);
          i = next;
        } else if (line[i] === "$" || line[i] === "`") {
          throw new Error(`unsupported expansion in ${line}`);
        } else {
          push(line[i]!);
          i++;
        }
      }
      if (line[i] !== '"') throw new Error(`unterminated " in ${line}`);
      i++;
    } else if (line.startsWith("$(", i)) {
      const [value, next] = substitution(i);
      push(value);
      i = next;
    } else if (c === "$" || c === "`") {
      throw new Error(`unsupported expansion in ${line}`);
    } else if (c === "\\") {
      push(line[i + 1] ?? "");
      i += 2;
    } else {
      push(c);
      i++;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** magicpak's options that take a value (the rest are flags): to tell INPUT and OUTPUT apart. */
const VALUE_OPTIONS = new Set([
  "-i",
  "--include",
  "-e",
  "--exclude",
  "--mkdir",
  "-r",
  "--install-to",
  "--log-level",
  "--test-command",
  "--test-stdin",
  "--test-stdout",
  "--dynamic-arg",
  "--dynamic-stdin",
  "--upx-arg",
  "--busybox",
  "--upx",
  "--cc",
  "--root",
  "--library-path",
  "--preload",
  "--cwd",
]);

interface MagicpakRun {
  args: string[];
  /** Indexes of the positionals in args: INPUT... OUTPUT. */
  positionals: number[];
  option(name: string): string | undefined;
}

function magicpakRun(words: string[]): MagicpakRun | null {
  const segments: string[][] = [[]];
  for (const w of words) {
    if (["&&", "||", ";", "|"].includes(w)) segments.push([]);
    else segments[segments.length - 1]!.push(w);
  }
  for (const segment of segments) {
    const start = segment[0] === "npx" && segment[1] === "magicpak" ? 2 : segment[0] === "magicpak" ? 1 : -1;
    if (start < 0) continue;
    const args = segment.slice(start);
    const positionals: number[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (VALUE_OPTIONS.has(a)) i++;
      else if (!a.startsWith("-")) positionals.push(i);
    }
    const option = (name: string) => {
      const i = args.lastIndexOf(name);
      return i >= 0 ? args[i + 1] : undefined;
    };
    return { args, positionals, option };
  }
  return null;
}

// ---------------------------------------------------------------------------- where programs come from

interface Source {
  where: string;
  /** `which NAME` there. */
  which(name: string): string;
  /** Extra CLI options to bundle from there. */
  options: string[];
  /** `sh -c COMMAND` there, outside any jail: the reference. */
  run(command: string, stdin?: string): Promise<ProcessResult>;
}

function whichIn(prefix: string, name: string): string | null {
  for (const dir of SYSTEM_PATH.split(":")) if (existsSync(`${prefix}${dir}/${name}`)) return `${dir}/${name}`;
  return null;
}

/** The host when it has the program, else the provisioned amd64 root. */
function sourceFor(program: string): Source {
  if (whichIn("", program)) {
    return {
      where: "the host",
      which: (name) => whichIn("", name) ?? name,
      options: [],
      run: (command, stdin) => runProcess("/bin/sh", ["-c", command], { env: { PATH: SYSTEM_PATH }, stdin }),
    };
  }
  const root = fixture("MAGICPAK_AMD64_ROOT");
  if (!whichIn(root, program)) throw new Error(`${program} is neither on this host nor in the amd64 root ${root}: run \`npm run fixtures\` (test/fixtures/provision.sh)`);
  return {
    where: `the amd64 root ${root}`,
    which: (name) => whichIn(root, name) ?? name,
    options: ["--root", root],
    run: (command, stdin) => runProcess("chroot", [root, "/bin/sh", "-c", command], { env: { PATH: SYSTEM_PATH }, stdin }),
  };
}

// ---------------------------------------------------------------------------- the tests

t.test("examples/ holds the three examples, each described in its README", async (t) => {
  const dirs = readdirSync(examples, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  t.same(dirs, EXPECTED);
  const readme = readFileSync(join(examples, "README.md"), "utf8");
  for (const dir of dirs) {
    t.ok(existsSync(join(examples, dir, "Dockerfile")), `${dir}/Dockerfile`);
    t.match(readme, `(${dir}/Dockerfile)`, `README links ${dir}`);
  }
});

for (const example of EXPECTED) {
  t.test(`examples/${example}: the builder's magicpak command, then the FROM scratch image in a fresh jail`, async (t) => {
    await checkExample(t, example);
  });
}

async function checkExample(t: Test, example: string): Promise<void> {
  const stages = parseDockerfile(readFileSync(join(examples, example, "Dockerfile"), "utf8"));
  t.ok(stages.length >= 2, "a builder stage and a final stage");
  const final = stages[stages.length - 1]!;
  t.equal(final.from, "scratch", "the final stage is FROM scratch");

  // The builder's RUN ... magicpak ..., with $(which X) resolved where the program is.
  const source = sourceFor(example);
  t.comment(`${example}: taken from ${source.where}`);
  const builder = stages.find((s) => s.instructions.some((i) => i.keyword === "RUN" && /(^|&&|;)\s*(npx\s+)?magicpak\s/.test(i.args)));
  if (!builder) throw new Error(`examples/${example}/Dockerfile has no RUN running magicpak`);
  // The tarball of `npm pack` (the name is not on the registry yet), COPYed beside the Dockerfile.
  const tarball = /^\.\/(magicpak-[\d.]+\.tgz)$/.exec(builder.instructions.find((i) => i.keyword === "RUN" && /^npm install -g /.test(i.args))?.args.split(/\s+/)[3] ?? "")?.[1];
  t.ok(tarball, "the builder installs magicpak with npm install -g ./magicpak-VERSION.tgz");
  t.ok(
    builder.instructions.some((i) => i.keyword === "COPY" && i.args === `${tarball} ./`),
    `COPY ${tarball} ./`,
  );
  const runLine = builder.instructions.find((i) => i.keyword === "RUN" && /(^|&&|;)\s*(npx\s+)?magicpak\s/.test(i.args))!.args;
  const run = magicpakRun(shellWords(runLine, source.which));
  if (!run) throw new Error(`cannot read the magicpak command in ${runLine}`);
  t.ok(run.args.includes("--test") || run.args.includes("-t"), "the bundle is tested in the builder");
  t.ok(run.positionals.length >= 2, "INPUT... OUTPUT");
  const outputIndex = run.positionals[run.positionals.length - 1]!;
  const output = run.args[outputIndex]!;
  const input = run.args[run.positionals[0]!]!;

  // The final stage copies that output to / and runs ENTRYPOINT + CMD in WORKDIR.
  const copy = final.instructions.find((i) => i.keyword === "COPY");
  const copyArgs = copy?.args.split(/\s+/) ?? [];
  t.same(copyArgs, [`--from=${builder.name ?? "0"}`, output, "/."], `COPY --from=${builder.name} ${output} /.`);
  const json = (keyword: string): string[] => {
    const i = final.instructions.filter((x) => x.keyword === keyword).pop();
    if (!i) return [];
    const value: unknown = JSON.parse(i.args);
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw new Error(`${keyword} must be an exec-form JSON array of strings`);
    return value;
  };
  const argv = [...json("ENTRYPOINT"), ...json("CMD")];
  t.ok(argv.length > 0, `the image runs ${JSON.stringify(argv)}`);
  const workdir = final.instructions.filter((i) => i.keyword === "WORKDIR").pop()?.args ?? "/";

  // Bundle with this checkout's CLI, into a temporary OUTPUT.
  const out = join(work, example);
  const args = [...source.options, ...run.args.map((a, i) => (i === outputIndex ? out : a))];
  t.comment(`magicpak ${args.map((a) => (/^[\w/.:=-]+$/.test(a) ? a : shellQuote(a))).join(" ")}`);
  const r = await magicpakCli(args);
  t.equal(r.status, 0, "magicpak exits 0", { stderr: r.stderr });
  t.ok(existsSync(out), "OUTPUT was written");
  if (!existsSync(out)) return;
  t.comment(`${example}: ${describeStats(bundleStats(out))}; magicpak took ${r.ms} ms`);

  const stdin = run.option("--test-stdin");
  const testCommand = run.option("--test-command") ?? posix.basename(input);
  const expectedStdout = run.option("--test-stdout");
  await withFreshJail(out, async (jail) => {
    // Docker creates WORKDIR.
    mkdirSync(pathInJail(jail.dir, workdir), { recursive: true });

    // The builder's --test command, against the same command outside the jail.
    const reference = await source.run(testCommand, stdin);
    t.equal(reference.status, 0, `reference: ${testCommand}`, { stderr: reference.stderr });
    const tested = await jail.run(testCommand, { stdin });
    t.equal(tested.status, 0, `--test command in the jail: ${testCommand}`, { stderr: tested.stderr });
    t.equal(tested.stdout, reference.stdout, "the same output as the program outside the jail");
    if (expectedStdout !== undefined) t.equal(tested.stdout.trim(), expectedStdout, "the Dockerfile's --test-stdout");

    // The image's ENTRYPOINT + CMD, in WORKDIR, given the test's standard input.
    const command = argv.map(shellQuote).join(" ");
    const image = await jail.run(`cd ${shellQuote(workdir)} && exec ${command}`, { stdin });
    const imageReference = await source.run(`exec ${command}`, stdin);
    t.equal(imageReference.status, 0, `reference: ${command}`, { stderr: imageReference.stderr });
    t.equal(image.status, 0, `the image's command: ${command}`, { stderr: image.stderr });
    t.equal(image.stdout, imageReference.stdout, "the same output as the program outside the jail");
    t.not(image.stdout.trim(), "", "the image's command prints something");
  });
}
