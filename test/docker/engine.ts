/**
 * A Docker engine of the test's own, and the base image it needs, on a machine that may have
 * neither and cannot pull from a registry:
 * - Debian's docker.io, docker-compose and mmdebstrap, installed with apt when missing (as root,
 *   as scripts/setup.mjs does for its packages);
 * - a dockerd with its data root, exec root, pidfile and socket under one temp dir, on a bridge
 *   of its own (stbun0, 172.31.254.1/24; compose networks from 172.31.224.0/20), so that it
 *   never touches another engine's docker0, images or containers; stopped by PID, and its
 *   bridge, iptables rules and chains, IP forwarding setting and dirs put back by stop();
 * - debian:12-slim made with `mmdebstrap --variant=minbase bookworm` and `docker import`.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after timeoutMs); never throws on a non-zero exit. */
export async function run(cmd: string[], o: { env?: Record<string, string | undefined>; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  const proc = Bun.spawn(cmd, {
    cwd: o.cwd,
    env: { ...process.env, ...o.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: o.timeoutMs ?? 120_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Like run(), but a non-zero exit throws with the command and the end of its output. */
export async function runOk(cmd: string[], o: Parameters<typeof run>[1] = {}): Promise<RunResult> {
  const r = await run(cmd, o);
  if (r.code !== 0) throw new Error(`"${cmd.join(" ")}" exited with ${r.code}:\n${(r.stdout + r.stderr).slice(-3000)}`);
  return r;
}

export const isRoot = () => process.getuid?.() === 0;

/** Installs the Debian packages whose program is missing (apt-get, as root); throws when it cannot. */
export async function ensureDebianPackages(wanted: { program: string; pkg: string }[]): Promise<void> {
  const missing = wanted.filter((w) => !Bun.which(w.program, { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` }));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  if (!isRoot()) throw new Error(`missing ${missing.map((m) => m.program).join(", ")}: apt-get install --no-install-recommends ${pkgs.join(" ")} (or run the test as root)`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = ["apt-get", "install", "-y", "--no-install-recommends", ...pkgs];
  // docker.io's maintainer scripts would start the machine's own dockerd: forbid service starts
  // for the length of this install (Debian's policy-rc.d), unless the machine has its own.
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) await Bun.write(policy, "#!/bin/sh\n# Written by stolon-bun's test/docker for the length of one apt-get.\nexit 101\n", { mode: 0o755 });
  try {
    if ((await run(install, { env, timeoutMs: 600_000 })).code !== 0) {
      // A fresh machine may have no package lists yet.
      await runOk(["apt-get", "update"], { env, timeoutMs: 300_000 });
      await runOk(install, { env, timeoutMs: 600_000 });
    }
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

const BRIDGE = "stbun0";
const BRIDGE_CIDR = "172.31.254.1/24";
const BRIDGE_NET = "172.31.254.0/24";
const POOL = "172.31.224.0/20";

async function iptablesChains(table: string): Promise<string[]> {
  const r = await run(["iptables", "-t", table, "-S"]);
  return r.stdout.split("\n").filter((l) => l.startsWith("-N ")).map((l) => l.slice(3).trim());
}

/** A dockerd of our own; `env` points docker and docker-compose at it. */
export class DockerEngine {
  private constructor(
    readonly dir: string,
    readonly env: Record<string, string>,
    private readonly proc: Subprocess,
    private readonly dockerChainsBefore: Set<string>,
    private readonly forwardingBefore: { ipForward: string; policy: string },
  ) {}

  static async start(dir: string): Promise<DockerEngine> {
    await ensureDebianPackages([
      { program: "dockerd", pkg: "docker.io" },
      { program: "docker", pkg: "docker.io" },
      { program: "docker-compose", pkg: "docker-compose" },
      { program: "mmdebstrap", pkg: "mmdebstrap" },
    ]);
    mkdirSync(dir, { recursive: true });
    const before = new Set([...(await iptablesChains("filter")), ...(await iptablesChains("nat"))].filter((c) => c.startsWith("DOCKER")));
    // dockerd turns IP forwarding on and, when it does, sets the FORWARD policy to DROP: both
    // are put back as they were by stop().
    const forwarding = {
      ipForward: readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim(),
      policy: /^-P FORWARD (\w+)/m.exec((await run(["iptables", "-S", "FORWARD"])).stdout)?.[1] ?? "ACCEPT",
    };
    // Our own bridge, whatever else runs here (another engine's docker0 is left alone). One that
    // exists already belongs to another run of this test (or one killed before its stop()).
    if ((await run(["ip", "link", "show", BRIDGE])).code === 0)
      throw new Error(`the bridge ${BRIDGE} exists: another test/docker run is using it; if none is (pgrep -af dockerd), remove the leftover with: ip link delete ${BRIDGE}`);
    await runOk(["ip", "link", "add", BRIDGE, "type", "bridge"]);
    await runOk(["ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE]);
    await runOk(["ip", "link", "set", BRIDGE, "up"]);
    const sock = join(dir, "docker.sock");
    const log = Bun.file(join(dir, "dockerd.log"));
    const proc = Bun.spawn(
      [
        Bun.which("dockerd", { PATH: `${process.env.PATH ?? ""}:/usr/sbin` }) ?? "/usr/sbin/dockerd",
        "--data-root", join(dir, "data"),
        "--exec-root", join(dir, "exec"),
        "--pidfile", join(dir, "dockerd.pid"),
        "-H", `unix://${sock}`,
        "--bridge", BRIDGE,
        "--default-address-pool", `base=${POOL},size=24`,
        "--storage-driver", process.env.STOLON_DOCKER_STORAGE_DRIVER ?? "overlay2",
      ],
      { stdin: "ignore", stdout: log, stderr: log },
    );
    const engine = new DockerEngine(dir, { DOCKER_HOST: `unix://${sock}` }, proc, before, forwarding);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) break;
      if ((await run(["docker", "version", "--format", "{{.Server.Version}}"], { env: engine.env, timeoutMs: 10_000 })).code === 0) return engine;
      await Bun.sleep(500);
    }
    const text = existsSync(join(dir, "dockerd.log")) ? readFileSync(join(dir, "dockerd.log"), "utf8").slice(-2000) : "";
    await engine.stop();
    // overlay2 needs kernel support that some machines lack; vfs always works (slower, bigger).
    if (!process.env.STOLON_DOCKER_STORAGE_DRIVER && /overlay/i.test(text)) {
      process.env.STOLON_DOCKER_STORAGE_DRIVER = "vfs";
      return DockerEngine.start(dir);
    }
    throw new Error(`dockerd did not answer within 60 s:\n${text}`);
  }

  /** docker (or docker-compose) against this engine. */
  docker(args: string[], o: { timeoutMs?: number; cwd?: string } = {}) {
    return run(["docker", ...args], { ...o, env: this.env });
  }

  /**
   * Stops dockerd by its PID (SIGTERM, then SIGKILL after 30 s), removes its bridge, the
   * iptables rules and chains it made (only chains that did not exist before it started) and
   * its dirs.
   */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      this.proc.kill("SIGTERM");
      const timer = setTimeout(() => this.proc.kill("SIGKILL"), 30_000);
      await this.proc.exited;
      clearTimeout(timer);
    }
    for (const table of ["nat", "filter"]) {
      const rules = (await run(["iptables", "-t", table, "-S"])).stdout.split("\n");
      const ours = (c: string) => c.startsWith("DOCKER") && !this.dockerChainsBefore.has(c);
      for (const rule of rules) {
        if (!rule.startsWith("-A ")) continue;
        const words = rule.split(/\s+/);
        const chain = words[1]!;
        const target = words[words.indexOf("-j") + 1] ?? "";
        if (ours(chain)) continue; // flushed with its chain below
        if (ours(target) || rule.includes(BRIDGE) || rule.includes(BRIDGE_NET)) await run(["iptables", "-t", table, "-D", ...words.slice(1)]);
      }
      for (const c of await iptablesChains(table)) if (ours(c)) await run(["iptables", "-t", table, "-F", c]);
      for (const c of await iptablesChains(table)) if (ours(c)) await run(["iptables", "-t", table, "-X", c]);
    }
    await run(["iptables", "-P", "FORWARD", this.forwardingBefore.policy]);
    await Bun.write("/proc/sys/net/ipv4/ip_forward", `${this.forwardingBefore.ipForward}\n`);
    await run(["ip", "link", "delete", BRIDGE]);
    // Layers may be left mounted by a dockerd that was killed; unmount before removing.
    const mounts = readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "").filter((m) => m.startsWith(this.dir));
    for (const m of mounts.reverse()) await run(["umount", "-l", m]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * debian:12-slim, made here when the engine lacks it: `mmdebstrap --variant=minbase bookworm`
 * (with the machine's apt sources) then `docker import`. The tarball is kept in cacheDir when
 * one is given, so that a second run skips mmdebstrap.
 */
export async function ensureBaseImage(engine: DockerEngine, workDir: string, cacheDir?: string): Promise<{ created: boolean; mmdebstrapMs: number; importMs: number }> {
  if ((await engine.docker(["image", "inspect", "debian:12-slim"])).code === 0) return { created: false, mmdebstrapMs: 0, importMs: 0 };
  const dir = cacheDir ?? workDir;
  mkdirSync(dir, { recursive: true });
  const tar = join(dir, "debian-12-minbase.tar");
  let mmdebstrapMs = 0;
  if (!existsSync(tar)) {
    const t0 = performance.now();
    await runOk(["mmdebstrap", "--variant=minbase", "--format=tar", "--quiet", "bookworm", `${tar}.part`], { timeoutMs: 600_000 });
    await runOk(["mv", `${tar}.part`, tar]);
    mmdebstrapMs = performance.now() - t0;
  }
  const t1 = performance.now();
  await runOk(["docker", "import", "--change", 'CMD ["bash"]', tar, "debian:12-slim"], { env: engine.env, timeoutMs: 300_000 });
  return { created: true, mmdebstrapMs, importMs: performance.now() - t1 };
}

/** The machine's own CA certificates (a TLS-intercepting proxy's), for the build stage's npm. */
export function localCaCerts(): string {
  const dir = "/usr/local/share/ca-certificates";
  if (!existsSync(dir)) return "";
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".crt"))
    .map((f) => readFileSync(join(dir, f), "utf8").trim())
    .join("\n");
}
