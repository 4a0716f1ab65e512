/**
 * IP addresses as pg_hba.conf needs them. Pure.
 *
 * The addresses come from flags and from the cluster data (every keeper publishes its own, and
 * anyone who can write to etcd can publish anything), so a regular expression is not enough:
 * `999.1.1.1` or `abc` would become a /32 rule PostgreSQL cannot parse (and refuses to start with),
 * `::ffff:10.0.0.2` a /128 rule that never matches the IPv4 connection it stands for, and
 * `010.0.0.1` a rule for 8.0.0.1 (the C library reads a leading zero as octal). node:net's isIP
 * accepts only the plain forms (no leading zeros, no short forms such as 127.1).
 */
import { isIP } from "node:net";

export interface IpAddress {
  family: 4 | 6;
  /** Canonical text: dotted quad, or lower-case IPv6 with the longest zero run compressed. */
  text: string;
  loopback: boolean;
  /** 0.0.0.0 or :: */
  unspecified: boolean;
}

/** Parses an IP address; an IPv4-mapped IPv6 address is the IPv4 address it maps. */
export function parseIpAddress(s: string): IpAddress | { error: string } {
  const family = isIP(s);
  if (family === 4) {
    const octets = s.split(".").map(Number);
    return { family: 4, text: octets.join("."), loopback: octets[0] === 127, unspecified: octets.every((o) => o === 0) };
  }
  if (family !== 6) return { error: "not an IP address" };
  if (s.includes("%")) return { error: "an IPv6 zone index (%...) cannot be used in pg_hba.conf" };
  const g = ipv6Groups(s);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const v4 = `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
    return parseIpAddress(v4);
  }
  const zeros = g.slice(0, 7).every((x) => x === 0);
  return { family: 6, text: compressIpv6(g), loopback: zeros && g[7] === 1, unspecified: zeros && g[7] === 0 };
}

/** The pg_hba.conf address of exactly this host: a.b.c.d/32 or x:y::z/128. */
export function hostCidr(a: IpAddress): string {
  return `${a.text}/${a.family === 4 ? 32 : 128}`;
}

/** The eight 16-bit groups of an address isIP accepted as IPv6 (zone index excluded). */
function ipv6Groups(s: string): number[] {
  const parse = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").flatMap((x) => {
          if (!x.includes(".")) return [parseInt(x, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = x.split(".").map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = "", tail] = s.split("::");
  const h = parse(head);
  if (tail === undefined) return h;
  const t = parse(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

function compressIpv6(g: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** RFC 1123 labels, with `_` too: container platforms name hosts like `stolon_keeper_1`. */
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * Why `s` is neither an IP address nor a host name, or null when it is one of them. A dotted run
 * of digits that is not an IPv4 address (999.1.1.1, 010.0.0.1, 127.1) is refused, not taken for a
 * host name: resolvers read some of those as numbers.
 */
export function hostProblem(s: string): string | null {
  // A zone index (fe80::1%eth0) is fine to listen on and to connect to, only not in pg_hba.conf.
  if (isIP(s) !== 0) return null;
  if (s.includes(":")) return `"${s}" is not a valid IPv6 address`;
  if (/^[0-9.]+$/.test(s) || /^0x/i.test(s)) return `"${s}" is not a valid IPv4 address (four decimal numbers 0 to 255 without leading zeros)`;
  if (!HOSTNAME_RE.test(s)) return `"${s}" is neither an IP address nor a host name`;
  return null;
}

/**
 * True when a listen_addresses value accepts TCP connections from this host only: every entry is
 * a loopback address or "localhost" (an empty value means the Unix socket only).
 */
export function listensOnLoopbackOnly(listenAddresses: string): boolean {
  return listenAddresses
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "")
    .every((e) => {
      if (e.toLowerCase() === "localhost") return true;
      const ip = parseIpAddress(e);
      return !("error" in ip) && ip.loopback;
    });
}
