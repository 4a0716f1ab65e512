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
import { readLines } from "./lines.ts";

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

  /** The port listened on (the one given, or the one the system chose for 0). */
  get port(): number {
    return this.listener?.port ?? this.o.port;
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

/**
 * Relays in a child process of their own (`bun bench/relay.ts '[{"port":..,"targetPort":..},...]'`),
 * so that the cluster's traffic through them does not wait on the benchmark's own event loop (its
 * client, its bookkeeping). Commands on stdin, one a line: `partition I J ...` or `heal I J ...`
 * (the relays' indexes, all cut or healed at once); each is answered `ok` on stdout once done.
 * The child exits when stdin closes.
 */
export class RelayProcess {
  private readonly proc;
  private readonly lines: AsyncIterator<string>;

  constructor(readonly relays: readonly { port: number; targetPort: number }[]) {
    this.proc = Bun.spawn([process.execPath, import.meta.path, JSON.stringify(relays)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    this.lines = readLines(this.proc.stdout)[Symbol.asyncIterator]();
  }

  /** Waits for every relay to listen. @throws when the child failed to start them */
  async ready(): Promise<void> {
    await this.expect("ready");
  }

  /** Partitions the relays of these indexes at once (see Relay.partition). */
  partition(...indexes: number[]): Promise<void> {
    return this.command(`partition ${indexes.join(" ")}`);
  }

  /** Heals the relays of these indexes (see Relay.heal). */
  heal(...indexes: number[]): Promise<void> {
    return this.command(`heal ${indexes.join(" ")}`);
  }

  /** Closes stdin (the child closes every relay and exits) and waits for the exit. */
  async close(): Promise<void> {
    try {
      await this.proc.stdin.end();
    } catch {
      // gone already
    }
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    await this.proc.exited;
    clearTimeout(t);
  }

  private async command(cmd: string): Promise<void> {
    this.proc.stdin.write(`${cmd}\n`);
    await this.proc.stdin.flush();
    await this.expect("ok");
  }

  private async expect(line: string): Promise<void> {
    const r = await this.lines.next();
    if (r.done || r.value !== line) throw new Error(`relay process: expected "${line}", got ${r.done ? "its exit" : `"${r.value}"`}`);
  }
}

if (import.meta.main) {
  const relays = (JSON.parse(process.argv[2] ?? "[]") as { port: number; targetPort: number }[]).map((o) => new Relay(o));
  for (const r of relays) r.listen();
  process.stdout.write("ready\n");
  for await (const line of readLines(Bun.stdin.stream())) {
    const [cmd, ...indexes] = line.split(" ");
    const rs = indexes.map((i) => relays[Number(i)]);
    if (rs.length === 0 || rs.some((r) => !r) || (cmd !== "partition" && cmd !== "heal")) throw new Error(`relay process: unknown command "${line}"`);
    for (const r of rs) {
      if (cmd === "partition") r!.partition();
      else r!.heal();
    }
    process.stdout.write("ok\n");
  }
  for (const r of relays) r.close();
}
