// lib/fs-name.ts: names are bytes. Every byte string comes back exactly, and wherever it is valid
// UTF-8 the decoded string is what the platform's strict UTF-8 decoder (TextDecoder, fatal) gives.

import t from "tap";
import { randomBytes } from "node:crypto";
import { decodeName, fsPath, nameBytes } from "../../lib/fs-name.js";
import { printable } from "../../lib/report/printable.js";

const strict = new TextDecoder("utf-8", { fatal: true });

t.test("random byte strings round-trip exactly; valid UTF-8 decodes as TextDecoder does", async (t) => {
  let valid = 0;
  let mismatches = 0;
  const samples = [
    Buffer.from("lib\xff.so", "latin1"),
    Buffer.from("/opt/\xff", "latin1"),
    Buffer.from("h\u00e9llo/\u{1f600}", "utf8"),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0xc0, 0xaf]),
    Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  ];
  for (let i = 0; i < 20000; i++) samples.push(randomBytes(1 + (i % 12)));
  for (const bytes of samples) {
    const name = decodeName(bytes);
    if (!nameBytes(name).equals(bytes)) mismatches++;
    let reference: string | null = null;
    try {
      reference = strict.decode(bytes);
    } catch {
      reference = null;
    }
    if (reference !== null) {
      valid++;
      if (name !== reference) mismatches++;
    } else if (!/[\udc80-\udcff]/.test(name)) mismatches++; // invalid input must show an escaped byte
  }
  t.equal(mismatches, 0, `${samples.length} byte strings (${valid} valid UTF-8): 0 mismatches`);
});

t.test("fsPath passes ordinary strings through and gives the bytes of escaped ones", async (t) => {
  t.equal(fsPath("/usr/lib/libc.so.6"), "/usr/lib/libc.so.6");
  t.equal(fsPath("/opt/h\u00e9"), "/opt/h\u00e9");
  t.same(fsPath(decodeName(Buffer.from("/opt/\xff", "latin1"))), Buffer.from("/opt/\xff", "latin1"));
  t.equal(printable(decodeName(Buffer.from("lib\xff\xfe.so", "latin1"))), "lib\\xff\\xfe.so");
  t.equal(printable("h\u00e9"), "h\u00e9", "valid non-ASCII text is printed as is");
});
