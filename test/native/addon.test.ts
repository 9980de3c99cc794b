// The optional native addon: built by the test set-up (test/run.js runs `napi build`), it must be
// loaded here; and magicpak must work when it is absent, disabled or broken.

import t from "tap";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeAddon, nativeAddonPath, nativeStatus } from "../../lib/native/addon.js";

const buildNote = process.env["MAGICPAK_NATIVE_BUILD"];

t.test("the addon is built and loads", async (t) => {
  t.comment(`build: ${buildNote ?? "(not run through test/run.js)"}; status: ${nativeStatus()}`);
  // A stale build from earlier must not hide a set-up that cannot build it (no cargo in CI).
  if (buildNote !== undefined) t.match(buildNote, /^built in /, "the test set-up built the addon (npm run build:native)");
  const addon = nativeAddon();
  t.ok(addon, `the native addon is loaded (${nativeStatus()}${buildNote ? `; build: ${buildNote}` : ""})`);
  if (!addon) return;
  t.match(nativeStatus(), /^loaded \(native\/magicpak\.linux-(x64|arm64)-gnu\.node, \d+\.\d+\.\d+\)$/);
  t.equal(addon.version(), "0.1.0");
  const expected =
    process.arch === "x64"
      ? ["open", "stat", "lstat", "access", "execve", "readlink", "openat", "newfstatat", "readlinkat", "faccessat", "execveat", "statx", "openat2", "faccessat2"]
      : ["faccessat", "openat", "readlinkat", "newfstatat", "execve", "execveat", "statx", "openat2", "faccessat2"];
  t.same(addon.syscalls().sort(), expected.sort(), "the system calls recorded on this architecture");
  t.throws(() => addon.dlopenResolve("libc.so.6" as unknown as string[]), /names must be an array/, "bad arguments throw, they do not crash");
  t.throws(() => addon.trace({ argv: [] }), /argv must name the program/);
});

const work = mkdtempSync(join(tmpdir(), "magicpak-native-addon-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const addonModule = new URL("../../lib/native/addon.js", import.meta.url).pathname;
const indexModule = new URL("../../lib/index.js", import.meta.url).pathname;
const cli = new URL("../../../bin/magicpak.js", import.meta.url).pathname;

/** In a fresh node with MAGICPAK_NATIVE=value: the status line, and whether the rest of the package works. */
function withNative(value: string) {
  const script = `
    const { nativeAddon, nativeStatus } = await import(${JSON.stringify(addonModule)});
    const { Loader } = await import(${JSON.stringify(indexModule)});
    const graph = new Loader("/").load("/bin/sh");
    console.log(JSON.stringify({ addon: nativeAddon() !== null, status: nativeStatus(), objects: graph.objects.length }));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: { ...process.env, MAGICPAK_NATIVE: value } });
  return { ...r, parsed: r.status === 0 ? (JSON.parse(r.stdout) as { addon: boolean; status: string; objects: number }) : null };
}

t.test("absent, disabled or broken: null with the reason, and everything else works", async (t) => {
  const broken = join(work, "broken.node");
  writeFileSync(broken, "not an ELF file\n");
  const cases: [string, RegExp][] = [
    ["off", /^not loaded: disabled by MAGICPAK_NATIVE=off$/],
    [join(work, "absent.node"), /^not loaded: .*absent\.node is absent \(build it with npm run build:native\)$/],
    [broken, /^not loaded: .*broken\.node failed to load: .*(invalid ELF header|file too short)/],
  ];
  for (const [value, status] of cases) {
    const r = withNative(value);
    t.equal(r.status, 0, `MAGICPAK_NATIVE=${value}: the package imports and the Loader works`, { stderr: r.stderr });
    t.equal(r.parsed?.addon, false, `MAGICPAK_NATIVE=${value}: nativeAddon() is null`);
    t.match(r.parsed?.status ?? "", status, `MAGICPAK_NATIVE=${value}: nativeStatus() says why`);
    t.ok((r.parsed?.objects ?? 0) > 1, "the TypeScript resolver still loads /bin/sh");
  }
  const list = spawnSync(process.execPath, [cli, "--list", "/bin/sh"], { encoding: "utf8", env: { ...process.env, MAGICPAK_NATIVE: "off" } });
  t.equal(list.status, 0, "the CLI works with the addon disabled", { stderr: list.stderr });
  t.match(list.stdout, /libc\.so\.6 => /);
  t.match(nativeAddonPath() ?? "", /native\/magicpak\.linux-(x64|arm64)-gnu\.node$/, "the default location is native/ in the package");
});
