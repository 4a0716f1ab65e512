/**
 * The docker compose demo cluster and the Kubernetes example, without a Docker engine or a
 * Kubernetes cluster: docker-compose (Debian's, installed when missing and running as root)
 * validates the compose file, every manifest parses as YAML, and every command, flag and ST*_
 * variable they use exists in our CLIs (checked with the same flag rules the commands apply).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ArgsDef, CommandDef } from "citty";
import { main as keeperMain } from "../../cmd/keeper.ts";
import { main as proxyMain } from "../../cmd/proxy.ts";
import { main as sentinelMain } from "../../cmd/sentinel.ts";
import { root as stolonctlRoot } from "../../cmd/stolonctl.ts";
import { checkFlags, subcommandIndex } from "../../src/lib/cli.ts";
import { ensureDebianPackages } from "../docker/engine.ts";

const repo = join(import.meta.dir, "../..");
const docker = join(repo, "docker");

const COMMANDS: Record<string, CommandDef<any>> = {
  "stolon-keeper": keeperMain,
  "stolon-sentinel": sentinelMain,
  "stolon-proxy": proxyMain,
  stolonctl: stolonctlRoot,
};
const ENV_PREFIX: Record<string, string> = { STKEEPER: "stolon-keeper", STSENTINEL: "stolon-sentinel", STPROXY: "stolon-proxy", STOLONCTL: "stolonctl" };

/** Problems with one invocation of our commands, found as the command itself would find them. */
function invocationProblems(argv: string[]): string[] {
  let cmd = COMMANDS[argv[0] ?? ""];
  if (!cmd) return [`${argv[0]}: not one of our commands`];
  let rest = argv.slice(1);
  const problems: string[] = [];
  for (;;) {
    const args = (cmd.args ?? {}) as ArgsDef;
    const subs = cmd.subCommands as Record<string, CommandDef<any>> | undefined;
    if (!subs) {
      try {
        checkFlags(rest, args);
      } catch (e) {
        problems.push(`${argv[0]}: ${(e as Error).message}`);
      }
      return problems;
    }
    const idx = subcommandIndex(rest, args);
    try {
      checkFlags(idx >= 0 ? rest.slice(0, idx) : rest, args);
    } catch (e) {
      problems.push(`${argv[0]}: ${(e as Error).message}`);
    }
    const sub = idx >= 0 ? subs[rest[idx]!] : undefined;
    if (!sub) return [...problems, `${argv.join(" ")}: no known subcommand`];
    cmd = sub;
    rest = rest.slice(idx + 1);
  }
}

/** An ST*_ variable must be a flag of the command it belongs to. */
function envProblems(name: string): string[] {
  const m = /^(STKEEPER|STSENTINEL|STPROXY|STOLONCTL)_([A-Z0-9_]+)$/.exec(name);
  if (!m) return [];
  const flag = m[2]!.toLowerCase().replace(/_/g, "-");
  const cmd = COMMANDS[ENV_PREFIX[m[1]!]!]!;
  return flag in ((cmd.args ?? {}) as ArgsDef) ? [] : [`${name}: ${ENV_PREFIX[m[1]!]} has no flag --${flag}`];
}

/** Our invocations inside a command array: direct, or `exec <cmd> ...` lines of a shell script. */
function invocations(command: unknown): string[][] {
  if (!Array.isArray(command)) return [];
  const argv = command.map(String);
  if (argv[0] && argv[0] in COMMANDS) return [argv];
  if (argv[0] === "/bin/sh" || argv[0] === "sh") {
    const script = argv[argv.length - 1] ?? "";
    return script
      .split("\n")
      .map((l) => l.trim().replace(/^exec\s+/, ""))
      .filter((l) => l.split(/\s+/)[0]! in COMMANDS)
      .map((l) => l.split(/\s+/));
  }
  return [];
}

/** Debian's docker-compose, installed with apt when missing (the docker test's installer). */
async function ensureDockerCompose(): Promise<string> {
  await ensureDebianPackages([{ program: "docker-compose", pkg: "docker-compose" }]);
  return Bun.which("docker-compose") ?? "/usr/bin/docker-compose";
}

describe("docker compose demo cluster", () => {
  const file = join(docker, "docker-compose.yml");
  const compose = Bun.YAML.parse(readFileSync(file, "utf8")) as { services: Record<string, any>; secrets?: Record<string, { file: string }> };

  test("docker-compose config -q accepts it", async () => {
    const bin = await ensureDockerCompose();
    const r = Bun.spawnSync([bin, "-f", file, "config", "-q"], { cwd: repo, stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  }, 180_000);

  test("etcd, the init, three keepers with volumes, two sentinels and a published proxy, with healthchecks", () => {
    const s = compose.services;
    const cmdOf = (name: string) => String(s[name]?.command?.[0]);
    expect(Object.keys(s).sort()).toEqual(["etcd", "init", "keeper1", "keeper2", "keeper3", "prometheus", "proxy", "sentinel1", "sentinel2"]);
    expect(s.init.command).toContain("--if-absent");
    for (const k of ["keeper1", "keeper2", "keeper3"]) {
      expect(cmdOf(k)).toBe("stolon-keeper");
      expect(s[k].volumes).toEqual([`${k}-data:/stolon-data`]);
      expect(s[k].command).toContain(`--uid=${k}`);
      expect(s[k].command).toContain(`--pg-advertise-address=${k}`);
      expect(s[k].healthcheck).toBeDefined();
      expect(s[k].depends_on.init.condition).toBe("service_completed_successfully");
    }
    expect(cmdOf("sentinel1")).toBe("stolon-sentinel");
    expect(cmdOf("sentinel2")).toBe("stolon-sentinel");
    expect(cmdOf("proxy")).toBe("stolon-proxy");
    expect(s.proxy.ports).toEqual(["127.0.0.1:25432:5432"]);
    expect(s.etcd.healthcheck).toBeDefined();
    expect(s.init.depends_on.etcd.condition).toBe("service_healthy");
    for (const sec of Object.values(compose.secrets ?? {})) expect(existsSync(join(docker, sec.file))).toBe(true);
    // Our image is built, never pulled: every service that uses it names the build.
    for (const [name, svc] of Object.entries(s)) if (svc.image === "stolon-bun:demo") expect([name, svc.build?.dockerfile]).toEqual([name, "docker/Dockerfile"]);
  });

  test("no image is pulled but debian:12-slim: every service is built, every FROM is debian:12-slim or a stage", () => {
    for (const [name, svc] of Object.entries(compose.services)) expect([name, typeof svc.build?.dockerfile]).toEqual([name, "string"]);
    const dockerfiles = readdirSync(docker).filter((f) => f === "Dockerfile" || f.endsWith(".Dockerfile"));
    expect(dockerfiles.sort()).toEqual(["Dockerfile", "etcd.Dockerfile", "prometheus.Dockerfile"]);
    for (const f of dockerfiles) {
      const text = readFileSync(join(docker, f), "utf8");
      const stages = [...text.matchAll(/^FROM \S+ AS (\S+)$/gim)].map((m) => m[1]!);
      for (const m of text.matchAll(/^FROM (\S+)/gm)) expect([f, stages.includes(m[1]!) ? "stage" : m[1]]).toEqual([f, expect.stringMatching(/^(stage|debian:12-slim)$/)]);
      for (const m of text.matchAll(/--from=(\S+)/g)) expect(stages).toContain(m[1]!);
    }
  });

  test("every command and flag it uses exists in our CLIs", () => {
    const problems: string[] = [];
    let checked = 0;
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const argv of [...invocations(svc.command), ...invocations(svc.healthcheck?.test?.slice(1))]) {
        checked++;
        problems.push(...invocationProblems(argv).map((p) => `${name}: ${p}`));
      }
      for (const env of Object.keys(svc.environment ?? {})) problems.push(...envProblems(env));
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  test("the Dockerfile copies what exists and sets only known ST*_ variables; PostgreSQL is not run as root", () => {
    const text = readFileSync(join(docker, "Dockerfile"), "utf8");
    const copies = [...text.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
    expect(copies.length).toBeGreaterThan(3);
    for (const c of copies) expect(existsSync(join(repo, c))).toBe(true);
    const envs = [...text.matchAll(/\b(ST[A-Z]+_[A-Z0-9_]+)=/g)].map((m) => m[1]!);
    expect(envs.length).toBeGreaterThan(0);
    expect(envs.flatMap(envProblems)).toEqual([]);
    expect(text).toMatch(/^USER postgres$/m);
    expect(text).toContain("scripts/build.ts");
  });
});

describe("Kubernetes example", () => {
  const dir = join(docker, "kubernetes");
  const docs = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => {
      const parsed = Bun.YAML.parse(readFileSync(join(dir, f), "utf8"));
      return (Array.isArray(parsed) ? parsed : [parsed]).map((d) => ({ file: f, doc: d as any }));
    });

  test("every manifest parses, with a StatefulSet of keepers, Deployments of sentinels and proxies, a proxy Service and a Secret", () => {
    const kinds = docs.map(({ doc }) => `${doc.kind}/${doc.metadata?.name}`).sort();
    expect(kinds).toEqual(
      ["Deployment/stolon-proxy", "Deployment/stolon-sentinel", "Job/stolon-init", "Secret/stolon", "Service/stolon-keeper", "Service/stolon-proxy", "StatefulSet/stolon-keeper"].sort(),
    );
    for (const { doc } of docs) expect(typeof doc.apiVersion).toBe("string");
  });

  test("every command, flag and ST*_ variable its containers use exists in our CLIs; nothing runs as root", () => {
    const problems: string[] = [];
    let checked = 0;
    for (const { file, doc } of docs) {
      const pod = doc.spec?.template?.spec;
      if (!pod) continue;
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      for (const c of pod.containers ?? []) {
        for (const argv of invocations([...(c.command ?? []), ...(c.args ?? [])])) {
          checked++;
          problems.push(...invocationProblems(argv).map((p) => `${file}: ${p}`));
        }
        for (const e of c.env ?? []) problems.push(...envProblems(e.name).map((p) => `${file}: ${p}`));
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBe(4);
  });
});

describe("the flag check itself", () => {
  test("finds an unknown flag, an unknown subcommand and an unknown variable", () => {
    expect(invocationProblems(["stolon-keeper", "--pg-port=5432", "--no-such-flag=1"])).toEqual(["stolon-keeper: unknown flag --no-such-flag"]);
    expect(invocationProblems(["stolonctl", "--cluster-name=x", "inti"])).toEqual(["stolonctl --cluster-name=x inti: no known subcommand"]);
    expect(invocationProblems(["stolonctl", "init", "--if-absent", "--bogus"])).toEqual(["stolonctl: unknown flag --bogus"]);
    expect(envProblems("STPROXY_NO_SUCH")).toEqual(["STPROXY_NO_SUCH: stolon-proxy has no flag --no-such"]);
    expect(invocations(["/bin/sh", "-ec", "exec stolon-keeper --uid=keeper${POD_NAME##*-}\n"])).toEqual([["stolon-keeper", "--uid=keeper${POD_NAME##*-}"]]);
  });
});
