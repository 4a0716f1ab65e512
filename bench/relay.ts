/**
 * A TCP relay for fault injection, on Bun.listen and Bun.connect: every connection accepted on
 * 127.0.0.1:port gets its own connection to the target. Received buffers are written on as they
 * are; the part the other side's socket did not take is copied and queued, and the side that
 * produced it is paused until `drain`. Half-close is not passed on: an end (or close) of one side
 * ends the other once what was queued for it is written.
 *
 * partition() cuts it the way a dropped network does, with no RST: nothing more is forwarded in
 * either direction (both sides paused, whatever still arrives dropped, an end or close of one
 * side not passed on), every socket stays open, and new connections are accepted and held
 * silent. heal() ends (FIN) every connection that was open or accepted during the partition and
 * forwards normally again.
 */
import type { Socket, TCPSocketListener } from "bun";

interface Pair {
  client: Socket<Pair>;
  upstream: Socket<Pair> | null;
  toUpstream: Uint8Array[];
  toClient: Uint8Array[];
  /** Open or accepted during a partition: silent until heal() ends it. */
  held: boolean;
  /** One side ended or closed: end the other once its queue is written. */
  ending: boolean;
  closed: boolean;
}

export class Relay {
  private listener: TCPSocketListener<Pair> | null = null;
  private readonly pairs = new Set<Pair>();
  private partitioned = false;

  constructor(private readonly o: { port: number; targetPort: number; host?: string }) {}

  get port(): number {
    return this.o.port;
  }

  /** Starts listening. @throws when the port cannot be bound */
  listen(): void {
    this.listener = Bun.listen<Pair>({
      hostname: this.o.host ?? "127.0.0.1",
      port: this.o.port,
      allowHalfOpen: true,
      socket: {
        binaryType: "uint8array",
        open: (s) => this.onOpen(s),
        data: (s, buf) => this.forward(s.data, buf, "toUpstream"),
        drain: (s) => this.flush(s.data, "toClient"),
        end: (s) => this.onEnd(s.data),
        close: (s) => this.onEnd(s.data),
        error: (s) => this.onEnd(s.data),
      },
    });
  }

  /** Stops forwarding in both directions, keeps every socket open, holds new connections silent. */
  partition(): void {
    this.partitioned = true;
    for (const p of this.pairs) {
      p.held = true;
      p.client.pause();
      p.upstream?.pause();
    }
  }

  /** Ends (FIN) every connection held during the partition; new connections are forwarded again. */
  heal(): void {
    this.partitioned = false;
    for (const p of [...this.pairs]) {
      if (!p.held) continue;
      this.pairs.delete(p);
      p.closed = true;
      for (const s of [p.client, p.upstream]) {
        if (!s) continue;
        // Resumed so that the peer's answering FIN is read and the socket closes.
        s.resume();
        s.end();
      }
    }
  }

  /** Stops listening and closes every connection at once. */
  close(): void {
    this.listener?.stop(true);
    this.listener = null;
    for (const p of this.pairs) {
      p.closed = true;
      p.client.terminate();
      p.upstream?.terminate();
    }
    this.pairs.clear();
  }

  private onOpen(client: Socket<Pair>): void {
    const p: Pair = { client, upstream: null, toUpstream: [], toClient: [], held: this.partitioned, ending: false, closed: false };
    client.data = p;
    this.pairs.add(p);
    if (p.held) {
      client.pause();
      return;
    }
    Bun.connect<Pair>({
      hostname: "127.0.0.1",
      port: this.o.targetPort,
      data: p,
      allowHalfOpen: true,
      socket: {
        binaryType: "uint8array",
        open: (u) => {
          p.upstream = u;
          if (p.closed) return u.terminate();
          if (p.held) return u.pause();
          u.setNoDelay(true);
          this.flush(p, "toUpstream");
          if (p.ending && p.toUpstream.length === 0) u.end();
        },
        data: (_u, buf) => this.forward(p, buf, "toClient"),
        drain: () => this.flush(p, "toUpstream"),
        end: () => this.onEnd(p),
        close: () => this.onEnd(p),
        error: () => this.onEnd(p),
        connectError: () => this.onEnd(p),
      },
    }).catch(() => this.onEnd(p));
  }

  /** Writes buf on towards the other side; what it does not take is queued and this side paused. */
  private forward(p: Pair, buf: Uint8Array, queue: "toUpstream" | "toClient"): void {
    if (p.held || p.closed) return;
    const to = queue === "toUpstream" ? p.upstream : p.client;
    const from = queue === "toUpstream" ? p.client : p.upstream;
    const q = p[queue];
    if (!to || q.length > 0) {
      // Upstream not connected yet, or a backlog: keep order. A copy: Bun may reuse buf.
      q.push(buf.slice());
      from?.pause();
      return;
    }
    const n = to.write(buf);
    if (n < buf.byteLength) {
      q.push(buf.slice(Math.max(n, 0)));
      from?.pause();
    }
  }

  /** `drain` of the socket that `queue` feeds: writes the backlog, then resumes the other side. */
  private flush(p: Pair, queue: "toUpstream" | "toClient"): void {
    if (p.held || p.closed) return;
    const to = queue === "toUpstream" ? p.upstream : p.client;
    const from = queue === "toUpstream" ? p.client : p.upstream;
    if (!to) return;
    const q = p[queue];
    while (q.length > 0) {
      const chunk = q[0]!;
      const n = to.write(chunk);
      if (n < chunk.byteLength) {
        q[0] = chunk.subarray(Math.max(n, 0));
        return;
      }
      q.shift();
    }
    if (p.ending) to.end();
    else from?.resume();
  }

  /** One side ended, closed or failed. Not passed on during a partition (heal() ends it). */
  private onEnd(p: Pair): void {
    if (p.held || p.closed || p.ending) return;
    p.ending = true;
    // Each side is ended once what is queued for it is written (flush ends it then).
    if (p.toUpstream.length === 0) p.upstream?.end();
    if (p.toClient.length === 0) p.client.end();
    this.pairs.delete(p);
  }
}
