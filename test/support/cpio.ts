// Writes a directory tree as an uncompressed cpio archive in the "newc" format (the format the
// Linux kernel unpacks as an initramfs: Documentation/driver-api/early-userspace/buffer-format.rst).
// Regular files, directories and symbolic links only; owner root, modes and link targets as on
// disk, hard links written as separate files, timestamps 0 (the archive depends on the contents).

import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(ino: number, mode: number, nlink: number, size: number, name: string): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  const fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, nameBytes.length, 0];
  const text = Buffer.from(`070701${fields.map(hex).join("")}`, "ascii");
  return Buffer.concat([text, nameBytes, Buffer.alloc(pad4(text.length + nameBytes.length))]);
}

/** The cpio (newc) archive of everything under dir, paths relative to it ("bin/sh", not "/bin/sh"). */
export function cpioNewc(dir: string): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (rel: string) => {
    const path = join(dir, rel);
    const st = lstatSync(path);
    const type = st.mode & S_IFMT;
    const mode = st.mode & 0o7777;
    let data: Buffer;
    if (type === S_IFDIR) data = Buffer.alloc(0);
    else if (type === S_IFLNK) data = Buffer.from(readlinkSync(path));
    else if (type === S_IFREG) data = readFileSync(path);
    else throw new Error(`cpio: ${path} is neither a file, a directory nor a symbolic link`);
    parts.push(header(ino++, type | mode, type === S_IFDIR ? 2 : 1, data.length, rel), data, Buffer.alloc(pad4(data.length)));
    if (type === S_IFDIR) for (const name of readdirSync(path).sort()) add(`${rel}/${name}`);
  };
  for (const name of readdirSync(dir).sort()) add(name);
  parts.push(header(0, 0, 1, 0, "TRAILER!!!"));
  return Buffer.concat(parts);
}
