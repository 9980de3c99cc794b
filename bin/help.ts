// `magicpak --help`, written from the option table in README.md's order. README.md's help block is
// this text (test/cli/help.test.ts compares them).

import { GROUPS, OPTIONS, takesValue, type Group, type OptionSpec } from "./options.js";

const WIDTH = 100;
/** The column descriptions start at; a longer option name puts its description on the next line. */
const COLUMN = 30;

const USAGE = [
  "Usage: magicpak [OPTIONS] <INPUT>... <OUTPUT>",
  "       magicpak --list|--tree|--json [OPTIONS] <FILE>...",
  "       magicpak --from-image <SOURCE> [OPTIONS] [INPUT]... <OUTPUT>",
  "",
  "Bundle each INPUT and everything it needs at run time (its interpreter, its shared libraries, the",
  "files it opens) into the directory OUTPUT, for a FROM scratch image. Exit status: 0 success,",
  "1 an error or a failed test, 2 a usage error.",
];

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

function names(spec: OptionSpec): string {
  const short = "short" in spec && spec.short !== undefined ? `-${spec.short}, ` : "    ";
  return `  ${short}--${spec.long}${takesValue(spec) ? ` <${spec.value}>` : ""}`;
}

export function helpText(): string {
  const out = [...USAGE];
  for (const group of Object.keys(GROUPS) as Group[]) {
    const info: { title: string; intro?: string } = GROUPS[group];
    out.push("", `${info.title}:`);
    if (info.intro) out.push(...wrap(info.intro, WIDTH - 2).map((l) => `  ${l}`));
    for (const spec of OPTIONS.filter((o) => o.group === group)) {
      const left = names(spec);
      const text = wrap(spec.help, WIDTH - COLUMN);
      const first = left.length + 2 <= COLUMN ? [`${left.padEnd(COLUMN)}${text.shift() ?? ""}`] : [left];
      out.push(...first, ...text.map((l) => `${" ".repeat(COLUMN)}${l}`));
    }
  }
  return `${out.map((l) => l.trimEnd()).join("\n")}\n`;
}
