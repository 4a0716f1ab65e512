/** --metrics-listen-address values, as stolon (Go's net.Listen) takes them. */

export interface ListenAddress {
  hostname: string;
  port: number;
}

/**
 * Parses a Go-style listen address: "host:port", ":port" (every interface), "[v6]:port".
 * Returns an error sentence for anything else.
 */
export function parseListenAddress(s: string): ListenAddress | { error: string } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(s.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535)
    return { error: `"${s}" is not a listen address such as 127.0.0.1:8080, :8080 or [::1]:8080` };
  const host = m[1] ?? m[2] ?? "";
  return { hostname: host === "" ? "0.0.0.0" : host, port };
}
