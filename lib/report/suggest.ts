// The nearest known option for a mistyped one, as git and commander suggest.

import { present } from "../present.js";

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => present(d[i]?.[j], `edit distance cell ${i},${j}`);
  for (let i = 1; i <= a.length; i++) {
    const row = present(d[i], `edit distance row ${i}`);
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidates nearest to `given`, at most two edits away and more alike than not (commander's
 * rule: similarity above 0.4); several when they are equally near, none when nothing is.
 */
export function suggestOption(given: string, candidates: readonly string[]): string[] {
  const bare = (s: string) => s.replace(/^-+/, "");
  let best = 3;
  let nearest: string[] = [];
  for (const candidate of candidates) {
    const a = bare(given);
    const b = bare(candidate);
    if (b.length <= 1) continue;
    const distance = editDistance(a, b);
    const length = Math.max(a.length, b.length);
    if ((length - distance) / length <= 0.4 || distance > 2) continue;
    if (distance < best) {
      best = distance;
      nearest = [candidate];
    } else if (distance === best) nearest.push(candidate);
  }
  return nearest;
}
