// The option parser as a user meets it: suggestions for typos, values verbatim, levels in any
// case, usage errors exit 2 with one line.

import t from "tap";
import { spawnSync } from "node:child_process";
import { suggestOption } from "../../lib/report/suggest.js";
import { parseCommandLine } from "../../bin/argv.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;

function magicpak(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: {} });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test("an unknown option names the nearest known one, as git and commander do; exit 2", async (t) => {
  const cases: [string[], string][] = [
    [["--tset", "/usr/bin/ls", "out"], "error: unknown option --tset (did you mean --test?)\n"],
    [["--list", "--jsno", "/usr/bin/ls"], "error: unknown option --jsno (did you mean --json?)\n"],
    [["--dynamic-tset", "a", "b"], "error: unknown option --dynamic-tset (did you mean --dynamic-test?)\n"],
    [["--incldue=/etc", "a", "b"], "error: unknown option --incldue (did you mean --include?)\n"],
    [["--frobnicate", "a", "b"], "error: unknown option --frobnicate (see --help)\n"],
    [["-x", "a", "b"], "error: unknown option -x (see --help)\n"],
  ];
  for (const [args, stderr] of cases) {
    const r = magicpak(...args);
    t.equal(r.status, 2, args.join(" "));
    t.equal(r.stderr, stderr);
    t.equal(r.stdout, "");
  }
  t.same(suggestOption("--oci-archiv", ["--oci", "--oci-archive", "--docker-archive"]), ["--oci-archive"]);
  t.same(suggestOption("--tmpp", ["--tmp", "--tag", "--test"]), ["--tmp"]);
});

t.test("--log-level takes a level in any case", async (t) => {
  for (const level of ["debug", "DEBUG", "Debug", "info", "oFF", "warn", "error"]) {
    t.equal(parseCommandLine(["--log-level", level, "a", "b"]).options.logLevel?.toLowerCase(), level.toLowerCase(), level);
  }
  const bad = magicpak("--log-level", "loud", "a", "b");
  t.equal(bad.status, 2);
  t.equal(bad.stderr, 'error: --log-level must be one of Off, Error, Warn, Info, Debug (got "loud")\n');
});

t.test("values are verbatim; a value option with nothing after it, or an option after it, is exit 2", async (t) => {
  for (const word of ["true", "undefined", "007", "false", ""]) {
    t.equal(parseCommandLine(["--test-stdout", word, "a", "b"]).options.testStdout, word, JSON.stringify(word));
    t.equal(parseCommandLine([`--test-stdout=${word}`, "a", "b"]).options.testStdout, word);
  }
  t.same(parseCommandLine(["-iGLOB", "-i=X", "-i", "Y", "--include", "Z", "a", "b"]).options.include, ["GLOB", "X", "Y", "Z"]);
  t.same(
    parseCommandLine(["--dynamic-arg", "--help", "--upx-arg=-q", "--cmd", "-n", "a", "b"]).options,
    { ...parseCommandLine(["a", "b"]).options, dynamicArg: ["--help"], upxArg: ["-q"], cmd: ["-n"] },
    "hyphen values",
  );
  for (const args of [
    ["a", "b", "--test-stdout"],
    ["--install-to", "--test", "a", "b"],
    ["-ti", "a", "b"],
  ]) {
    const r = magicpak(...args);
    t.equal(r.status, 2, args.join(" "));
    t.match(r.stderr, /^error: --(test-stdout|install-to|include) requires a value\n$/);
  }
  t.equal(magicpak("--test=yes", "a", "b").stderr, "error: --test takes no value\n");
  t.equal(magicpak("-r", "/a", "-r", "/b", "a", "b").stderr, "error: --install-to may be given once\n");
});

t.test("positionals: 'true' after a flag is a FILE, and everything after -- is one", async (t) => {
  t.same(parseCommandLine(["--tree", "true"]).paths, ["true"]);
  t.same(parseCommandLine(["--test", "false", "out"]).paths, ["false", "out"]);
  t.same(parseCommandLine(["--", "--test", "-x"]).paths, ["--test", "-x"]);
  t.equal(parseCommandLine(["--", "--test", "-x"]).options.test, false);
});

t.test("typed results: flags are booleans, --no-* settings default to on, checked values are typed", async (t) => {
  const none = parseCommandLine(["a", "b"]).options;
  t.equal(none.nss, true);
  t.equal(none.packageRecords, true);
  t.equal(none.test, false);
  t.same(none.include, []);
  t.equal(none.testTimeout, undefined);
  const some = parseCommandLine(["--no-nss", "--no-package-records", "--test-timeout", "2.5", "--label", "a=b=c", "--dynamic-env", "X=1", "a", "b"]).options;
  t.equal(some.nss, false);
  t.equal(some.packageRecords, false);
  t.equal(some.testTimeout, 2500);
  t.same(some.label, [["a", "b=c"]]);
  t.same(some.dynamicEnv, [["X", "1"]]);
});

t.test("a bad --tag is a usage error (exit 2) like the others, before anything is read", async (t) => {
  const r = magicpak("/nonexistent/prog", "/nonexistent/out", "--oci", "/nonexistent/oci", "--tag", "Not A Reference");
  t.equal(r.status, 2);
  t.equal(r.stderr, "error: --tag Not A Reference: not a valid image reference (NAME[:TAG], lower-case name)\n");
  for (const [option, value] of [
    ["--test-network", "wide"],
    ["--tracer", "ptrace"],
    ["--dlopen-notes", "some"],
    ["--sbom-format", "spdx3"],
    ["--resolver", "c"],
    ["--test-timeout", "0"],
    ["--test-timeout", "2147484"], // beyond what a timer can wait (lib/bundle/check-options.ts MAX_TIMEOUT_MS)
    ["--dynamic-timeout", "-1"],
    ["--label", "novalue"],
    ["--dynamic-env", "=x"],
  ] as const) {
    const bad = magicpak("/nonexistent/prog", "/nonexistent/out", `${option}=${value}`);
    t.equal(bad.status, 2, `${option} ${value}`);
    t.match(bad.stderr, new RegExp(`^error: ${option} must be .*\\n$`));
  }
});
