// File names are bytes; magicpak's paths are JavaScript strings. A name from a root (a DT_NEEDED
// entry, a RUNPATH directory, a directory listing, a symlink) is decoded as UTF-8 where it is
// valid, and each byte that is not part of valid UTF-8 becomes the lone surrogate U+DC00 + byte,
// as Python's "surrogateescape" does. Valid UTF-8 never decodes to a lone surrogate, so the bytes
// come back exactly (fsPath) at every call into node:fs, and ASCII and UTF-8 names, including the
// user's own arguments, stay ordinary strings that every other module compares and joins as before.
// Printing shows such a byte as \xNN (lib/report/printable.ts).

const ESCAPED = /[\udc80-\udcff]/;

/** The name `bytes[start, end)` as a string, byte-exact (see above). */
export function decodeName(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (byteAt(bytes, i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (ascii) return buffer.toString("latin1", start, end);
  let out = "";
  let run = start; // start of the pending valid UTF-8 run
  for (let i = start; i < end;) {
    const length = sequenceLength(bytes, i, end);
    if (length > 0) {
      i += length;
      continue;
    }
    out += buffer.toString("utf8", run, i) + String.fromCharCode(0xdc00 + byteAt(bytes, i));
    run = ++i;
  }
  return out + buffer.toString("utf8", run, end);
}

/** The length of the well-formed UTF-8 sequence at `i` (RFC 3629: no overlongs, no surrogates), or 0. */
function sequenceLength(b: Uint8Array, i: number, end: number): number {
  const c = byteAt(b, i);
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < end && byteAt(b, i + k) >= lo && byteAt(b, i + k) <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const [lo, hi] = c === 0xe0 ? [0xa0, 0xbf] : c === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const [lo, hi] = c === 0xf0 ? [0x90, 0xbf] : c === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** The bytes of a name decoded by decodeName. */
export function nameBytes(name: string): Buffer {
  if (!ESCAPED.test(name)) return Buffer.from(name, "utf8");
  const parts: Buffer[] = [];
  let run = "";
  for (const ch of name) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c >= 0xdc80 && c <= 0xdcff) {
      parts.push(Buffer.from(run, "utf8"), Buffer.from([c - 0xdc00]));
      run = "";
    } else run += ch;
  }
  parts.push(Buffer.from(run, "utf8"));
  return Buffer.concat(parts);
}

/** A path for node:fs: the string itself, or its exact bytes when it holds an escaped byte. */
export function fsPath(path: string): string | Buffer {
  return ESCAPED.test(path) ? nameBytes(path) : path;
}

/** The byte at `i`, which the caller keeps within the name's bounds. */
function byteAt(bytes: Uint8Array, i: number): number {
  const byte = bytes[i];
  if (byte === undefined) throw new Error(`internal error: name byte ${i} is past the end (${bytes.length} bytes)`);
  return byte;
}
