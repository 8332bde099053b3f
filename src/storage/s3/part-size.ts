/** S3's multipart limits and the part-size schedule that lets one export reach the 5 TiB object limit within 10,000 parts. */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Limits of Amazon S3 (other S3-compatible stores use the same or looser ones). */
export const S3_LIMITS = Object.freeze({
  /** Smallest part, except the last. */
  minPartSize: 5 * MiB,
  /** Largest part. */
  maxPartSize: 5 * GiB,
  maxParts: 10_000,
  maxObjectSize: 5 * 1024 * GiB,
});

/**
 * The schedule doubles the part size every `growEvery` parts, from `base`, up to `cap`. It is
 * written into the upload state when the upload starts, so a resumed export keeps the sizes it
 * began with even if the defaults change.
 */
export interface PartSchedule {
  base: number;
  growEvery: number;
  cap: number;
}

/**
 * Doubling every 900 parts from 5 MiB reaches 5 TiB by part ~9,540 (the sum over 10,000 parts
 * is about 5.9 TiB); the 2 GiB cap keeps one part inside a single Node Buffer and leaves room
 * for the engine overshooting the target by one batch without passing S3's 5 GiB part limit.
 * An export under ~7 GB (900 parts of 8 MiB) never grows beyond the engine's own part size.
 */
export const DEFAULT_SCHEDULE: PartSchedule = Object.freeze({ base: S3_LIMITS.minPartSize, growEvery: 900, cap: 2 * GiB });

/** Smallest size of part number `n` (1-based) under the schedule. */
export function partSizeFor(schedule: PartSchedule, n: number): number {
  const tier = Math.floor((Math.max(1, n) - 1) / schedule.growEvery);
  // 2^tier overflows nothing here: tiers past log2(cap/base) are capped anyway.
  return Math.min(schedule.cap, schedule.base * 2 ** Math.min(tier, 40));
}

/** Bytes the schedule can hold in `S3_LIMITS.maxParts` parts, if every part is exactly its minimum. */
export function scheduleCapacity(schedule: PartSchedule): number {
  let total = 0;
  for (let n = 1; n <= S3_LIMITS.maxParts; n++) total += partSizeFor(schedule, n);
  return total;
}
