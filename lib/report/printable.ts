// Names from a root are bytes an attacker chose: printed raw, a DT_NEEDED name with a newline forges
// another "error:" line and an escape sequence drives the terminal. Everything magicpak prints that
// came from a root (names, paths, messages quoting them) goes through printable() first.

/**
 * `text` with every control character but the tab (C0, DEL, C1), every lone surrogate and U+FFFD
 * written as an escape: \n, \r, \\, \xNN or \u{NNNN}; a byte of a name that is not UTF-8
 * (U+DC80-U+DCFF, lib/fs-name.ts) as \xNN of that byte. A backslash is
 * doubled so an escape cannot be forged either. Printable text, including non-ASCII, is unchanged.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x08\x0a-\x1f\x7f-\x9f\\\ufffd\ud800-\udfff\u2028\u2029]/.test(text)) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += text.slice(i, i + 2);
        i++;
        continue;
      }
    }
    if (c === 0x0a) out += "\\n";
    else if (c === 0x09)
      out += "\t"; // a tab stays: reports indent with it
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x5c) out += "\\\\";
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else if (c >= 0xdc80 && c <= 0xdcff)
      out += `\\x${(c - 0xdc00).toString(16)}`; // a byte that is not UTF-8 (lib/fs-name.ts)
    else if (c === 0xfffd || (c >= 0xd800 && c <= 0xdfff) || c === 0x2028 || c === 0x2029) out += `\\u{${c.toString(16)}}`;
    else out += text.charAt(i);
  }
  return out;
}

/** printable() of each line of a report, the line breaks between them kept. */
export function printableLines(text: string): string {
  return text.split("\n").map(printable).join("\n");
}
