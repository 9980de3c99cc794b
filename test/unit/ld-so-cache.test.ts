// The ld.so.cache reader against glibc's own: caches written by ldconfig in each of its formats
// (old, old+new "compat", new) and read back by `ldconfig -p -C FILE`.

import t from "tap";
import { execFileSync } from "node:child_process";
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CacheFormatError, lookupCache, parseLdSoCache } from "../../lib/index.js";
import { fixture } from "../support/fixtures.js";

/** (key, value) pairs as `ldconfig -p` prints them, in cache order. */
function ldconfigPrint(cache: string): [string, string][] {
  const out = execFileSync("/sbin/ldconfig", ["-p", "-C", cache], { encoding: "utf8" });
  return out
    .split("\n")
    .slice(1)
    .map((line) => /^\t(\S+) \(.*\) => (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[2]!]);
}

const dir = mkdtempSync(join(tmpdir(), "magicpak-cache-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// A small root of real libraries, so ldconfig -r writes its cache (and its aux-cache) there, not on the system.
const libRoot = join(dir, "root");
mkdirSync(join(libRoot, "usr/lib/x86_64-linux-gnu"), { recursive: true });
mkdirSync(join(libRoot, "etc"), { recursive: true });
writeFileSync(join(libRoot, "etc/ld.so.conf"), "/usr/lib/x86_64-linux-gnu\n");
const hostLibs = "/usr/lib/x86_64-linux-gnu";
for (const name of readdirSync(hostLibs).sort()) {
  const st = lstatSync(join(hostLibs, name));
  if (/^lib.*\.so\.\d/.test(name) && st.isFile() && st.size < 256 * 1024) copyFileSync(join(hostLibs, name), join(libRoot, "usr/lib/x86_64-linux-gnu", name));
}

for (const format of ["old", "compat", "new"] as const) {
  t.test(`ldconfig -c ${format}: same entries as ldconfig -p`, async (t) => {
    const file = join(libRoot, "etc", `${format}.cache`);
    execFileSync("/sbin/ldconfig", ["-r", libRoot, "-c", format, "-C", `/etc/${format}.cache`]);
    const cache = parseLdSoCache(file, readFileSync(file), { littleEndian: true });
    t.equal(cache.format, format === "compat" ? "old+new" : format);
    const expected = ldconfigPrint(file);
    t.ok(expected.length > 100, `${expected.length} entries`);
    // ldconfig -p prints the new part of an old+new cache.
    t.same(
      cache.entries.map((e) => [e.key, e.value]),
      expected,
    );
  });
}

t.test("lookup picks the entry the loader would: the arm64 root's cache", async (t) => {
  const root = fixture("MAGICPAK_ARM64_ROOT"); // a missing fixture throws: the test fails with the remedy
  const cache = parseLdSoCache("/etc/ld.so.cache", readFileSync(join(root, "etc/ld.so.cache")), { littleEndian: true });
  t.equal(cache.format, "new");
  t.match(cache.generator ?? "", /ldconfig/, "generator extension read");
  t.equal(lookupCache(cache, "libc.so.6", [0x0a03], [])?.entry.value, "/lib/aarch64-linux-gnu/libc.so.6");
  t.equal(lookupCache(cache, "libc.so.6", [0x0303], []), null, "x86-64 flags do not accept aarch64 entries");
  t.equal(lookupCache(cache, "libnothere.so.9", [0x0a03], []), null);
  for (const entry of cache.entries) {
    t.equal(lookupCache(cache, entry.key, [0x0a03], [])?.entry.key, entry.key, `binary search finds ${entry.key}`);
  }
});

t.test("malformed caches give CacheFormatError", async (t) => {
  const good = readFileSync("/etc/ld.so.cache");
  const cases: [string, Buffer][] = [
    ["empty", Buffer.alloc(0)],
    ["wrong magic", Buffer.from("not a cache at all, really not")],
    ["truncated header", good.subarray(0, 30)],
    ["truncated entries", good.subarray(0, 200)],
  ];
  const huge = Buffer.from(good);
  huge.writeUInt32LE(0xffffffff, 20);
  cases.push(["absurd count", huge]);
  for (const [name, bytes] of cases) {
    t.throws(() => parseLdSoCache("/etc/ld.so.cache", bytes, { littleEndian: true }), CacheFormatError, name);
  }
  t.throws(() => parseLdSoCache("/etc/ld.so.cache", good, { littleEndian: false }), CacheFormatError, "byte order mismatch is refused");
});
