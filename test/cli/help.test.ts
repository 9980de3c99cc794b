// `magicpak --help`: written by magicpak from its option table, grouped as README.md is, and
// README.md's help block is exactly what the binary prints.

import t from "tap";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseCommandLine } from "../../bin/argv.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const readme = new URL("../../../README.md", import.meta.url).pathname;

function magicpak(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: {} });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const help = magicpak("--help");

t.test("--help and -h print the help on stdout and exit 0", async (t) => {
  t.equal(help.status, 0);
  t.equal(help.stderr, "");
  t.match(help.stdout, /^Usage: magicpak \[OPTIONS\] <INPUT>\.\.\. <OUTPUT>\n/);
  t.equal(magicpak("-h").stdout, help.stdout);
});

t.test("README.md's help block is the real --help output", async (t) => {
  const text = readFileSync(readme, "utf8");
  const start = text.indexOf("```\nUsage: magicpak ");
  t.ok(start >= 0, "README.md has a block starting with the usage line");
  const block = text.slice(start + 4, text.indexOf("```\n", start + 4));
  t.equal(block, help.stdout, "run `node bin/magicpak.js --help` and paste it into README.md's block");
});

t.test("no cac defaults: no Commands section, no 'For more info', no trailing spaces, no (default: true)", async (t) => {
  t.notMatch(help.stdout, /Commands:/);
  t.notMatch(help.stdout, /For more info/);
  t.notMatch(help.stdout, /\(default: true\)/);
  t.same(
    help.stdout.split("\n").filter((l) => / $/.test(l)),
    [],
    "no line ends in a space",
  );
  t.same(
    help.stdout.split("\n").filter((l) => l.length > 100),
    [],
    "no line is wider than 100 columns",
  );
});

t.test("grouped the way README.md is: bundling, test, dynamic, compression, images, extras, listing", async (t) => {
  const headings = help.stdout.split("\n").filter((l) => /^[A-Z][^:]*.*:$/.test(l) && !l.startsWith("Usage"));
  const order = ["Bundling", "Test", "Dynamic", "Compression", "Images", "Runtime extras", "Listing", "Other"];
  t.same(
    headings.map((h) => order.find((o) => h.startsWith(o))),
    order,
    headings.join(" | "),
  );
  const section = (name: string) => help.stdout.slice(help.stdout.indexOf(`\n${name}`), help.stdout.indexOf("\n\n", help.stdout.indexOf(`\n${name}`) + 1));
  t.match(section("Test"), /--test-stdout <TEXT>/);
  t.match(section("Dynamic"), /--dynamic-arg <ARG>/);
  t.match(section("Compression"), /--upx-arg <ARG>/);
  t.match(section("Images"), /--oci-archive <FILE>/);
  t.match(section("Runtime extras"), /--no-nss/);
  t.match(section("Listing"), /--json/);
});

// Every spelling main() accepted before the option table (bin/cli.ts at commit 0380f10).
const EVERY_OPTION = {
  values: [
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
    "--test-timeout",
    "--test-network",
    "--dynamic-arg",
    "--dynamic-stdin",
    "--dynamic-command",
    "--dynamic-env",
    "--dynamic-timeout",
    "--tracer",
    "--upx-arg",
    "--busybox",
    "--emulator",
    "--upx",
    "--cc",
    "--root",
    "--from-image",
    "--platform",
    "--library-path",
    "--preload",
    "--cwd",
    "--dlopen-notes",
    "--oci",
    "--oci-archive",
    "--docker-archive",
    "--cmd",
    "--env",
    "--workdir",
    "--user",
    "--label",
    "--tag",
    "--sbom",
    "--sbom-format",
    "--resolver",
  ],
  flags: [
    "-v",
    "--verbose",
    "-t",
    "--test",
    "-d",
    "--dynamic",
    "--dynamic-test",
    "--explain",
    "-c",
    "--compress",
    "--experimental-noload-resolver",
    "--list",
    "--tree",
    "--json",
    "--no-nss",
    "--passwd",
    "--tmp",
    "--ca-certificates",
    "--tzdata",
    "--gconv",
    "--no-package-records",
    "-V",
    "--version",
    "-h",
    "--help",
  ],
};
// A value each check accepts.
const SAMPLE: Record<string, string> = {
  "--log-level": "Info",
  "--test-timeout": "5",
  "--test-network": "host",
  "--dynamic-timeout": "5",
  "--tracer": "strace",
  "--dlopen-notes": "all",
  "--label": "a=b",
  "--dynamic-env": "A=b",
  "--tag": "app:1",
  "--sbom-format": "cyclonedx",
  "--resolver": "ts",
};

t.test("every option main had is in the table, is parsed and is in the help", async (t) => {
  for (const name of EVERY_OPTION.values) {
    const parsed = parseCommandLine([name, SAMPLE[name] ?? "x", "in", "out"]);
    t.same(parsed.paths, ["in", "out"], `${name} takes a value`);
    if (name.startsWith("--")) t.match(help.stdout, new RegExp(`${name} <`), `${name} <VALUE> is in the help`);
  }
  for (const name of EVERY_OPTION.flags) {
    const parsed = parseCommandLine([name, "in", "out"]);
    t.same(parsed.paths, ["in", "out"], `${name} is a flag`);
    if (name.startsWith("--")) t.match(help.stdout, new RegExp(`${name}(\\s|$)`, "m"), `${name} is in the help`);
  }
  const listed = [...help.stdout.matchAll(/^ {2}(?:-\w, | {4})(--[a-z-]+)/gm)].map((m) => m[1]);
  t.same(listed.sort(), [...EVERY_OPTION.values, ...EVERY_OPTION.flags].filter((n) => n.startsWith("--")).sort(), "the help lists exactly these");
});
