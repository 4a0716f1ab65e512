/** Byte counts in notes: "512 B", "1.5 KiB", "40.0 MiB". Pure; shared by decide() and the election's ranking. */
export function formatBytes(n: number): string {
  if (Math.abs(n) < 1024) return `${n} B`;
  if (Math.abs(n) < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * A WAL position as PostgreSQL writes it ("0/3000028"), for notes. src/postgres/lsn.ts parses and
 * formats LSNs for the keeper; the cluster module may not import it (it imports nothing), and a
 * note must not throw on a hostile value, so this one only writes.
 */
export function lsnText(pos: number): string {
  if (!Number.isSafeInteger(pos) || pos < 0) return String(pos);
  return `${Math.floor(pos / 2 ** 32).toString(16).toUpperCase()}/${(pos % 2 ** 32).toString(16).toUpperCase()}`;
}
