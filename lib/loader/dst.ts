// Dynamic string tokens ($ORIGIN, $PLATFORM, $LIB), as glibc's elf/dl-load.c is_dst and
// _dl_dst_substitute handle them: `${NAME}` or `$NAME` not followed by [A-Za-z0-9_]; an unknown
// `$FOO` stays literally; a known token whose value is unknown empties the whole string.

export interface DstValues {
  origin: string | null;
  platform: string | null;
  lib: string;
}

const TOKENS = ["ORIGIN", "PLATFORM", "LIB"] as const;
type Token = (typeof TOKENS)[number];

/** Length of the token reference after `$` (including braces), or 0 if `ref` is not there. */
function isDst(input: string, at: number, ref: string): number {
  let i = at;
  const curly = input[i] === "{";
  if (curly) i++;
  if (!input.startsWith(ref, i)) return 0;
  const next = input[i + ref.length];
  if (curly) return next === "}" ? ref.length + 2 : 0;
  return next !== undefined && /[A-Za-z0-9_]/.test(next) ? 0 : ref.length;
}

export function containsDst(input: string): boolean {
  if (!input.includes("$")) return false;
  for (let i = input.indexOf("$"); i >= 0; i = input.indexOf("$", i + 1)) {
    if (TOKENS.some((t) => isDst(input, i + 1, t) > 0)) return true;
  }
  return false;
}

/** _dl_dst_substitute: "" when a token's value is unknown (the caller then drops the element). */
export function substituteDst(input: string, values: DstValues): string {
  let out = "";
  let i = 0;
  while (i < input.length) {
    const c = input.charAt(i);
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    let matched: Token | null = null;
    let length = 0;
    for (const t of TOKENS) {
      length = isDst(input, i + 1, t);
      if (length > 0) {
        matched = t;
        break;
      }
    }
    if (!matched) {
      out += c;
      i++;
      continue;
    }
    const value = matched === "ORIGIN" ? values.origin : matched === "PLATFORM" ? values.platform : values.lib;
    if (value === null) return "";
    out += value;
    i += 1 + length;
  }
  return out;
}

/** musl's fixup_rpath: only $ORIGIN/${ORIGIN}; any other `$` makes the whole list unusable (null). */
export function substituteMuslOrigin(input: string, origin: string): string | null {
  let out = "";
  let i = 0;
  while (i < input.length) {
    const dollar = input.indexOf("$", i);
    if (dollar < 0) return out + input.slice(i);
    out += input.slice(i, dollar);
    if (input.startsWith("ORIGIN", dollar + 1)) i = dollar + 7;
    else if (input.startsWith("{ORIGIN}", dollar + 1)) i = dollar + 9;
    else return null;
    out += origin;
  }
  return out;
}
