// The tar writer and the stable gzip, read back by real readers: GNU tar and Python's tarfile see
// every kind of entry (long names through ustar's prefix and pax, long link targets, hard links,
// UTF-8, special mode bits) as written; owner 0:0 without names, one mtime; the same entries give
// the same bytes; files are streamed, not read whole; a file that vanishes or shrinks is an error
// naming it. gzip (zlib's): gzip -n's header, gzip -t and -lv accept it, chunking does not change the bytes,
// and they are the bytes of the hand-written gzip it replaced.

import t from "tap";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, lstatSync, mkdirSync, readFileSync, readlinkSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { gunzipSync } from "node:zlib";
import { ImageError, StableGzip, tarStream, type TarEntry } from "../../lib/index.js";
import { run, scratchDir } from "./support.js";

const dir = scratchDir(t, "tar");

async function writeTar(file: string, entries: TarEntry[], mtime = 0): Promise<Buffer> {
  await pipeline(tarStream(entries, { mtime }), createWriteStream(file));
  return readFileSync(file);
}

/** Python's tarfile view of an archive: one JSON object per member. */
function pythonList(file: string): Array<Record<string, unknown>> {
  const script = `
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1]) as tf:
    for m in tf:
        out.append(dict(name=m.name, type=m.type.decode(), mode=m.mode, uid=m.uid, gid=m.gid, uname=m.uname, gname=m.gname,
                        mtime=m.mtime, size=m.size, linkname=m.linkname, pax=sorted(m.pax_headers.keys())))
print(json.dumps(out))
`;
  return JSON.parse(run("/usr/bin/python3", ["-c", script, file])) as Array<Record<string, unknown>>;
}

const prefixed = `${"d".repeat(60)}/${"e".repeat(90)}/${"f".repeat(99)}`; // 251 bytes: fits ustar's prefix + name
const unsplittable = `${"a/".repeat(150)}x`; // 301 bytes: needs pax
const utf8 = `ünïcödé/${"ç".repeat(50)}`; // 111 bytes of UTF-8: split into prefix and name

t.test("GNU tar and Python's tarfile read every kind of entry as written", async (t) => {
  const big = join(dir, "big.bin");
  const content = Buffer.alloc((1 << 20) + 3);
  for (let i = 0; i < content.length; i++) content[i] = (i * 7919) & 0xff;
  writeFileSync(big, content);
  const entries: TarEntry[] = [
    { type: "directory", path: "d".repeat(60), mode: 0o755 },
    { type: "directory", path: `${"d".repeat(60)}/${"e".repeat(90)}`, mode: 0o700 },
    { type: "file", path: prefixed, mode: 0o4755, content: Buffer.from("setuid") },
    { type: "file", path: "empty", mode: 0o600, content: Buffer.alloc(0) },
    { type: "file", path: "hard", mode: 0o644, hostPath: big },
    { type: "hardlink", path: "hard-too", mode: 0o644, target: "hard" },
    { type: "hardlink", path: "long-hard", mode: 0o4755, target: prefixed },
    { type: "symlink", path: "link", target: "t".repeat(300) },
    { type: "symlink", path: "short", target: "../x/y" },
    { type: "directory", path: "sticky", mode: 0o1777 },
    { type: "file", path: unsplittable, mode: 0o644, content: Buffer.from("deep") },
    { type: "file", path: utf8, mode: 0o640, content: Buffer.from("utf-8") },
  ];
  const file = join(dir, "kinds.tar");
  const bytes = await writeTar(file, entries, 1_700_000_000);
  t.equal(bytes.length % 512, 0, "whole blocks");
  t.ok(bytes.subarray(bytes.length - 1024).equals(Buffer.alloc(1024)), "ends with two zero blocks");

  const listed = pythonList(file);
  const expected = entries.map((e) => ({
    name: e.path,
    type: { file: "0", hardlink: "1", symlink: "2", directory: "5" }[e.type],
    mode: e.type === "symlink" ? 0o777 : e.mode,
    size: e.type === "file" ? ("content" in e ? e.content.length : content.length) : 0,
    linkname: e.type === "symlink" || e.type === "hardlink" ? e.target : "",
  }));
  t.same(
    listed.map(({ name, type, mode, size, linkname }) => ({ name, type, mode, size, linkname })),
    expected,
    "names, types, modes, sizes and link targets",
  );
  for (const m of listed) {
    t.same([m.uid, m.gid, m.uname, m.gname, m.mtime], [0, 0, "", "", 1_700_000_000], `${String(m.name).slice(0, 20)}: 0:0, no names, the mtime`);
  }
  const withPax = listed.filter((m) => (m.pax as string[]).length > 0).map((m) => [m.name, m.pax]);
  t.same(
    withPax,
    [
      ["long-hard", ["linkpath"]],
      ["link", ["linkpath"]],
      [unsplittable, ["path"]],
    ],
    "pax headers only where ustar cannot hold the name or link target (a link target has no prefix field)",
  );

  const out = join(dir, "kinds.out");
  mkdirSync(out);
  run("tar", ["-x", "-p", "--numeric-owner", "-f", file, "-C", out]);
  t.ok(readFileSync(join(out, "hard")).equals(content), "the streamed file's bytes");
  t.equal(lstatSync(join(out, "hard")).nlink, 2, "hard link");
  t.equal(lstatSync(join(out, "long-hard")).ino, lstatSync(join(out, prefixed)).ino, "hard link to a long name");
  t.equal(lstatSync(join(out, prefixed)).mode & 0o7777, 0o4755, "setuid kept");
  t.equal(lstatSync(join(out, "sticky")).mode & 0o7777, 0o1777, "sticky directory");
  t.equal(lstatSync(join(out, "d".repeat(60), "e".repeat(90))).mode & 0o7777, 0o700);
  t.equal(readlinkSync(join(out, "link")), "t".repeat(300), "long link target");
  t.equal(readFileSync(join(out, unsplittable), "utf8"), "deep");
  t.equal(readFileSync(join(out, utf8), "utf8"), "utf-8");
  t.equal(lstatSync(join(out, "empty")).mtimeMs, 1_700_000_000_000, "the mtime given");
  const verbose = run("tar", ["-tv", "--numeric-owner", "-f", file]);
  t.match(verbose, / 0\/0 /, "GNU tar lists 0/0");
  t.notMatch(verbose, /root/, "no names");
});

t.test("the same entries give the same bytes; another mtime changes them", async (t) => {
  const entries: TarEntry[] = [
    { type: "directory", path: "a", mode: 0o755 },
    { type: "file", path: "a/b", mode: 0o644, content: Buffer.from("x") },
  ];
  const one = await writeTar(join(dir, "same1.tar"), entries, 5);
  const two = await writeTar(join(dir, "same2.tar"), entries, 5);
  const other = await writeTar(join(dir, "same3.tar"), entries, 6);
  t.ok(one.equals(two));
  t.notOk(one.equals(other));
});

t.test("a big file is streamed, not read whole", async (t) => {
  const big = join(dir, "sparse.bin");
  writeFileSync(big, "");
  truncateSync(big, 512 * 1024 * 1024); // sparse: costs no disk
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  let total = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      peak = Math.max(peak, process.memoryUsage().rss);
      callback();
    },
  });
  await pipeline(tarStream([{ type: "file", path: "sparse.bin", mode: 0o644, hostPath: big }], { mtime: 0 }), sink);
  t.equal(total, 512 + 512 * 1024 * 1024 + 1024, "header, contents, end");
  t.ok(peak - before < 128 * 1024 * 1024, `memory grew by ${Math.round((peak - before) / 1048576)} MiB for a 512 MiB file`);
  unlinkSync(big);
});

t.test("a file that vanishes or shrinks while archived is an error naming it", async (t) => {
  await t.rejects(writeTar(join(dir, "vanished.tar"), [{ type: "file", path: "x", mode: 0o644, hostPath: join(dir, "nope"), source: "/usr/lib/nope" }]), {
    name: "ImageError",
    message: "/usr/lib/nope: cannot read: ENOENT",
  });
  const shrinking = join(dir, "shrinking");
  writeFileSync(shrinking, Buffer.alloc(4096, 1));
  const stream = tarStream([{ type: "file", path: "s", mode: 0o644, hostPath: shrinking, source: "/s" }], { mtime: 0 });
  const first = await stream.next(); // the header, written with the size at open
  t.equal((first.value as Buffer).length, 512);
  truncateSync(shrinking, 100);
  const rest = (async () => {
    for (let r = await stream.next(); !r.done; r = await stream.next());
  })();
  await t.rejects(rest, new ImageError("/s", "changed while it was archived (100 of 4096 bytes)"));
});

t.test("paths and mtimes the format cannot hold are refused", async (t) => {
  await t.rejects(writeTar(join(dir, "abs.tar"), [{ type: "file", path: "/etc/x", mode: 0o644, content: Buffer.from("") }]), { name: "ImageError" });
  await t.rejects(writeTar(join(dir, "neg.tar"), [], -1), { name: "ImageError" });
  await t.rejects(writeTar(join(dir, "frac.tar"), [], 1.5), { name: "ImageError" });
});

async function gzip(chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  const gz = new StableGzip();
  gz.on("data", (c: Buffer) => out.push(c));
  const done = new Promise((resolve, reject) => {
    gz.on("end", resolve);
    gz.on("error", reject);
  });
  for (const chunk of chunks) gz.write(chunk);
  gz.end();
  await done;
  return Buffer.concat(out);
}

t.test("gzip: a fixed header, the right trailer, the same bytes however the input is split", async (t) => {
  const data = readFileSync("/usr/bin/bash");
  const whole = await gzip([data]);
  t.same([...whole.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], "no name, mtime 0, XFL 0 (level 6), OS Unix");
  t.ok(gunzipSync(whole).equals(data), "gunzips to the input");
  const file0 = join(dir, "bash-trailer.gz");
  writeFileSync(file0, whole);
  // gzip -lv: "method crc date time compressed uncompressed ratio name"
  const listed = spawnSync("gzip", ["-lv", file0], { encoding: "utf8" }).stdout.trim().split("\n").at(-1)!.trim().split(/\s+/);
  t.equal(
    whole
      .readUInt32LE(whole.length - 8)
      .toString(16)
      .padStart(8, "0"),
    listed[1],
    "the trailer's CRC-32 is the one gzip -lv computes",
  );
  t.equal(whole.readUInt32LE(whole.length - 4), data.length % 2 ** 32, "its length");
  const gnu = spawnSync("gzip", ["-n", "-6", "-c"], { input: data }).stdout;
  t.same([...whole.subarray(0, 10)], [...gnu.subarray(0, 10)], "the header gzip -n -6 writes");
  const pieces: Buffer[] = [];
  for (let at = 0, n = 1; at < data.length; at += n, n = (n * 3 + 7) % 200_003) pieces.push(data.subarray(at, at + n));
  t.ok((await gzip(pieces)).equals(whole), "split into odd pieces: the same bytes");
  t.ok((await gzip([])).equals(await gzip([Buffer.alloc(0)])), "empty input");
  t.ok(gunzipSync(await gzip([])).length === 0);
  const file = join(dir, "bash.gz");
  writeFileSync(file, whole);
  const test = spawnSync("gzip", ["-t", file]);
  t.equal(test.status, 0, "gzip -t accepts it");
});

t.test("gzip: the bytes of the hand-written gzip it replaced (image digests stay)", async (t) => {
  // SHA-256 of what lib/image/gzip.ts wrote before it became zlib's createGzip (a fixed header
  // around raw deflate at level 6, CRC-32 and length), for this input, 322275 bytes of gzip.
  const data = Buffer.concat([
    Buffer.from("magicpak ".repeat(50_000)),
    Buffer.concat(Array.from({ length: 10_000 }, (_, i) => createHash("sha256").update(`block ${i}`).digest())),
    Buffer.alloc(100_000),
  ]);
  const out = await gzip([data]);
  t.equal(out.length, 322275);
  t.equal(createHash("sha256").update(out).digest("hex"), "d4aa84e5126e521502b5a36d06eb3dd4de3eba4e7bfb88e39f40ac25cc86a60a");
  t.ok(gunzipSync(out).equals(data));
});
