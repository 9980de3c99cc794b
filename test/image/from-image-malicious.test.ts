// --from-image never trusts a layer: each malicious layer below is refused by the command line with
// exit 1 and one line naming the layer's digest and the entry, nothing is written (no OUTPUT, no
// image, nothing outside the root), and the temporary root is gone.

import t from "tap";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { gzipSync } from "node:zlib";
import { main } from "../../bin/cli.js";
import { scratchDir } from "./support.js";
import { tarOf, writeTestLayout, type RawEntry } from "./source-support.js";

const dir = scratchDir(t, "from-image-evil");
// A private TMPDIR: the temporary roots of this process alone (other tests run in parallel).
const privateTmp = join(dir, "tmp");
mkdirSync(privateTmp);
process.env["TMPDIR"] = privateTmp;
const base: RawEntry[] = [{ header: { name: "etc/", type: "directory", mode: 0o755 } }, { header: { name: "etc/hostname", type: "file", mode: 0o644, size: 5 }, content: Buffer.from("base\n") }];
const file = (name: string, text = "x"): RawEntry => ({ header: { name, type: "file", mode: 0o644, size: text.length }, content: Buffer.from(text) });

/** A tar of one file whose size field says `size` in base-256, with no data after it. */
function hugeEntry(name: string, size: bigint): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100);
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header[124] = 0x80;
  for (let i = 0; i < 11; i++) header[135 - i] = Number((size >> BigInt(8 * i)) & 0xffn);
  header.write("00000000000\0", 136);
  header.write("0", 156);
  header.write("ustar\x0000", 257);
  header.write("        ", 148);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return Buffer.concat([header, Buffer.alloc(1024)]);
}

const cases: [string, () => Promise<Buffer>, RegExp][] = [
  ["path traversal ../x", () => tarOf([file("../x")]), /entry "\.\.\/x": "\.\." in the name/],
  ["traversal inside a name", () => tarOf([file("etc/../../x")]), /entry "etc\/\.\.\/\.\.\/x"/],
  ["an absolute name", () => tarOf([file("/etc/evil")]), /entry "\/etc\/evil": absolute name/],
  [
    "an absolute symlink, then a file through it",
    () => tarOf([{ header: { name: "evil", type: "symlink", linkname: "/tmp" } }, file("evil/planted")]),
    /entry "evil\/planted": its parent \/evil is a symlink/,
  ],
  [
    "a relative symlink out, then a file through it",
    () => tarOf([{ header: { name: "up", type: "symlink", linkname: "../../../.." } }, file("up/tmp/planted")]),
    /entry "up\/tmp\/planted": its parent \/up is a symlink/,
  ],
  ["a hard link out of the root", () => tarOf([{ header: { name: "passwd", type: "link", linkname: "../../../etc/passwd" } }]), /entry "passwd": hard link target/],
  [
    "a hard link to an entry not yet extracted",
    () => tarOf([{ header: { name: "early", type: "link", linkname: "etc/later" } }, file("etc/later")]),
    /entry "early": hard link to "etc\/later", which is not \(yet\) in the image/,
  ],
  ["a huge sparse entry over the bound", async () => hugeEntry("bomb", 1n << 40n), /entry "bomb": 1099511627776 bytes would exceed the 8589934592-byte bound/],
];

for (const [name, evil, message] of cases) {
  t.test(name, async (t) => {
    const here = join(dir, name.replace(/\W+/g, "-"));
    mkdirSync(here);
    const layer = await evil();
    writeTestLayout(join(here, "layout"), [{ platform: { architecture: "amd64", os: "linux" }, layers: [await tarOf(base), layer], config: { Entrypoint: ["/bin/true"] } }]);
    const digest = `sha256:${createHash("sha256").update(gzipSync(layer)).digest("hex")}`;
    const before = tempRoots();
    const err = new PassThrough();
    let text = "";
    err.on("data", (c) => (text += c));
    const code = await main(["--from-image", join(here, "layout"), join(here, "out"), "--oci", join(here, "oci")], new PassThrough() as never, err as never);
    t.equal(code, 1, "exit 1");
    const lines = text.trim().split("\n");
    t.equal(lines.length, 1, `one line: ${text.trim()}`);
    t.match(lines[0], message, "names the entry and the problem");
    t.ok(lines[0]!.startsWith("error: layer sha256:"), "names the layer by digest");
    t.ok(lines[0]!.includes(digest), "the digest is the stored (gzipped) blob's");
    t.notOk(existsSync(join(here, "out")), "no OUTPUT");
    t.notOk(existsSync(join(here, "oci")), "no image");
    t.notOk(existsSync("/tmp/planted") || existsSync(join(tmpdir(), "planted")), "nothing planted outside");
    t.same(tempRoots(), before, "the temporary root is removed");
  });
}

function tempRoots(): string[] {
  return readdirSync(tmpdir())
    .filter((n) => n.startsWith("magicpak-image-root-") || n.startsWith("magicpak-source-"))
    .sort();
}
