/**
 * `stolonctl status -f stolon` and `-f stolon-json`: the status in the layout of stolon v0.17's
 * own stolonctl (cmd/stolonctl/cmd/status.go), so that an operator's eyes and scripts that read
 * it keep working. Same sections, columns, values ("true"/"false") and order; the text goes
 * through a copy of Go's text/tabwriter rules (goTabwriter), including stolon's flush after every
 * table row, so a later row is aligned on its own. Where stolon would crash (a master db that is
 * not in the cluster data, a follower loop), this prints what it can.
 */
import type { ClusterData, DB, ProxyInfo, SentinelInfo } from "../cluster/index.ts";
import type { InfoList } from "../store/index.ts";

/** stolon's Status struct, with its JSON names (cmd/stolonctl/cmd/status.go). */
export interface StolonStatus {
  sentinels: { uid: string; leader: boolean }[];
  proxies: { uid: string; generation: number }[];
  keepers: {
    uid: string;
    listen_address: string;
    healthy: boolean;
    pg_healthy: boolean;
    pg_wanted_generation: number;
    pg_current_generation: number;
  }[];
  cluster: { available: boolean; master_keeper_uid: string; master_db_uid: string };
}

/** Go's sort.Strings order: by UTF-16 code units, which is byte order for the ASCII uids. */
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** stolon's generateStatus, on what collectStatus reads. */
export function stolonStatus(
  cd: ClusterData,
  sentinels: InfoList<SentinelInfo>,
  proxies: InfoList<ProxyInfo>,
  leader: string | null,
): StolonStatus {
  const dbOf = (keeperUid: string): DB | undefined => Object.values(cd.dbs ?? {}).find((db) => db.spec.keeperUID === keeperUid);
  const masterDb = cd.cluster.status.master ? cd.dbs?.[cd.cluster.status.master] : undefined;
  return {
    sentinels: Object.values(sentinels.items)
      .map((s) => s.UID)
      .sort(byString)
      .map((uid) => ({ uid, leader: leader !== null && leader !== "" && uid === leader })),
    proxies: Object.values(proxies.items)
      .sort((a, b) => byString(a.UID, b.UID))
      .map((p) => ({ uid: p.UID, generation: p.Generation })),
    keepers: Object.keys(cd.keepers ?? {})
      .sort(byString)
      .map((uid) => {
        const db = dbOf(uid);
        const addr = db === undefined ? "(no db assigned)" : db.status.listenAddress ? `${db.status.listenAddress}:${db.status.port ?? ""}` : "(unknown)";
        return {
          uid,
          listen_address: addr,
          healthy: cd.keepers[uid]?.status.healthy === true,
          pg_healthy: db?.status.healthy === true,
          pg_wanted_generation: db?.generation ?? 0,
          pg_current_generation: db?.status.currentGeneration ?? 0,
        };
      }),
    cluster: {
      available: cd.dbs !== null && cd.dbs !== undefined,
      master_keeper_uid: masterDb && cd.keepers?.[masterDb.spec.keeperUID] ? masterDb.spec.keeperUID : "",
      master_db_uid: masterDb?.uid ?? "",
    },
  };
}

/**
 * Go's json.MarshalIndent(v, "", "\t"): the same layout as JSON.stringify with a tab, and Go's
 * escaping of <, >, & and the line and paragraph separators in strings.
 */
export function renderStolonJson(s: StolonStatus): string {
  return JSON.stringify(s, null, "\t").replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * Go's text/tabwriter as stolon sets it up (minwidth 0, tabwidth 8, padding 1, padchar '\t', no
 * flags) on `text`, which is then flushed: a column's cells are padded with tabs to the widest
 * cell of its block plus one, rounded up to a multiple of 8. A cell is tab-terminated; the text
 * after a line's last tab is not part of a column. Widths count code points, as Go counts runes.
 */
export function goTabwriter(text: string): string {
  const lines = text.split("\n").map((l) => l.split("\t"));
  const widths: number[] = [];
  const out: string[] = [];
  const runes = (s: string) => [...s].length;
  const pad = (textw: number, cellw: number) => "\t".repeat(Math.ceil((Math.ceil(cellw / 8) * 8 - textw) / 8));
  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i] ?? [];
      const row = cells.map((c, j) => (j < widths.length ? c + pad(runes(c), widths[j] ?? 0) : c)).join("");
      out.push(i + 1 === lines.length ? row : `${row}\n`);
    }
  };
  // text/tabwriter's format(): a column block is a run of lines that have a cell in this column.
  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let t = line0; t < line1; t++) {
      if (column >= (lines[t]?.length ?? 0) - 1) continue;
      writeLines(line0, t);
      line0 = t;
      let width = 0;
      for (; t < line1; t++) {
        const cells = lines[t] ?? [];
        if (column >= cells.length - 1) break;
        width = Math.max(width, runes(cells[column] ?? "") + 1);
      }
      widths.push(width);
      format(line0, t);
      widths.pop();
      line0 = t;
    }
    writeLines(line0, line1);
  };
  format(0, lines.length);
  return out.join("");
}

/** A table as stolon prints it: the header and the first row flushed together, every later row alone. */
function stolonTable(header: string, rows: string[]): string {
  if (rows.length === 0) return goTabwriter(`${header}\n`);
  return goTabwriter(`${header}\n${rows[0]}\n`) + rows.slice(1).map((r) => goTabwriter(`${r}\n`)).join("");
}

/**
 * stolon's printTree: the master's keeper, then each follower in the order of its spec's
 * followers, "├─"/"└─" before each, "│ " or "  " below. A follower not in the cluster data is
 * skipped (as stolon does after removekeeper); a db that follows one of its own followers (a
 * loop stolon would follow until it crashes) is not entered again.
 */
export function stolonTree(cd: ClusterData, masterDbUid: string): string[] {
  const lines: string[] = [];
  const path = new Set<string>();
  const walk = (uid: string, level: number, prefix: string, tail: boolean) => {
    const db = cd.dbs?.[uid];
    if (db === undefined || path.has(uid)) return;
    path.add(uid);
    const connector = level > 0 ? (tail ? "└─" : "├─") : "";
    lines.push(`${prefix}${connector}${db.spec.keeperUID}${uid === cd.cluster.status.master ? " (master)" : ""}`);
    const followers = db.spec.followers ?? [];
    const below = prefix + (tail ? (level > 0 ? "  " : "") : "│ ");
    followers.forEach((f, i) => walk(f, level + 1, below, i === followers.length - 1));
    path.delete(uid);
  };
  walk(masterDbUid, 0, "", true);
  return lines;
}

/**
 * A value from etcd as a table cell: a control character (a tab, a newline) would end the cell or
 * the line in tabwriter and break the table, so it is shown escaped (\t, \x0b) instead.
 */
const cell = (v: string) => v.replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1).replace(/^\\u00/, "\\x"));

/** stolon's renderText: every line as its stdout() and tabwriter print it, ending with an empty line. */
export function renderStolonText(s: StolonStatus, cd: ClusterData): string {
  let out = "=== Active sentinels ===\n\n";
  out += s.sentinels.length === 0 ? "No active sentinels\n" : stolonTable("ID\tLEADER", s.sentinels.map((x) => `${cell(x.uid)}\t${x.leader}`));
  out += "\n=== Active proxies ===\n\n";
  out += s.proxies.length === 0 ? "No active proxies\n" : stolonTable("ID", s.proxies.map((p) => cell(p.uid)));
  out += "\n=== Keepers ===\n\n";
  out +=
    s.keepers.length === 0
      ? "No keepers available\n\n"
      : stolonTable(
          "UID\tHEALTHY\tPG LISTENADDRESS\tPG HEALTHY\tPG WANTEDGENERATION\tPG CURRENTGENERATION",
          s.keepers.map((k) => `${cell(k.uid)}\t${k.healthy}\t${cell(k.listen_address)}\t${k.pg_healthy}\t${k.pg_wanted_generation}\t${k.pg_current_generation}\t`),
        );
  out += s.cluster.master_keeper_uid === "" ? "No cluster available\n" : `\n=== Cluster Info ===\n\nMaster Keeper: ${s.cluster.master_keeper_uid}\n`;
  if (s.cluster.master_db_uid !== "") out += `\n===== Keepers/DB tree =====\n\n${stolonTree(cd, s.cluster.master_db_uid).map((l) => `${l}\n`).join("")}`;
  return `${out}\n`;
}
