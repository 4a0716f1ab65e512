/**
 * Byte sizes as operators write them on the command line: a plain number of bytes ("1048576") or a
 * number with a unit, read as PostgreSQL reads memory settings: kB, MB, GB and TB are multiples of
 * 1024 ("16MB" is 16 MiB); KiB, MiB, GiB and TiB are accepted as the same; B is bytes. Pure.
 */

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/;

/** The bytes `text` says, a whole number, or why it is not a size. */
export function parseByteSize(text: string): { bytes: number } | { error: string } {
  const m = SIZE_RE.exec(text.trim());
  const hint = 'use a number of bytes or a number with a unit such as "512kB", "16MB", "1GB"';
  if (!m) return { error: `"${text}" is not a size (${hint})` };
  const unit = m[2]!.toLowerCase();
  const mult = unit === "" ? 1 : UNITS[unit];
  if (mult === undefined) return { error: `"${text}": unknown unit "${m[2]}" (${hint})` };
  const bytes = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(bytes)) return { error: `"${text}" is too large` };
  return { bytes };
}
