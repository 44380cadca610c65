/**
 * Membership sets of totemsrp (spec/totem-srp.md §1): unordered sets of nodeids stored as
 * lists. Union appends new members at the end; equality and subset ignore order. The count
 * rules of corosync's helpers are kept (equal needs the same number of entries; a longer list
 * is never a subset of a shorter one).
 */

/** `x ∈ list`. */
export function setHas(list: readonly number[], x: number): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] === x) return true;
  return false;
}

/** `full ∪= items`, appending the new ones at the end, in order. */
export function setMerge(full: number[], items: readonly number[]): void {
  for (const x of items) if (!setHas(full, x)) full.push(x);
}

/** `a − b`, keeping a's order. */
export function setSubtract(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  for (const x of a) if (!setHas(b, x)) out.push(x);
  return out;
}

/** Same number of entries and every entry of b is in a. */
export function setEqual(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (const x of b) if (!setHas(a, x)) return false;
  return true;
}

/** `sub ⊆ full` (false when sub has more entries than full). */
export function setSubset(sub: readonly number[], full: readonly number[]): boolean {
  if (sub.length > full.length) return false;
  for (const x of sub) if (!setHas(full, x)) return false;
  return true;
}

/** Ascending copy. */
export function sortedIds(list: readonly number[]): number[] {
  return [...list].sort((x, y) => x - y);
}
