/**
 * TLS to etcd: client certificates, the CA flag, and --store-skip-tls-verify against an etcd that
 * requires client certificates.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCmd } from "./harness/process.ts";
import { EtcdProcess, type EtcdTls, makeTlsFiles } from "./harness/etcd.ts";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "stolon-test-tls-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function flags(etcd: EtcdProcess, tls: EtcdTls, extra: string[] = []) {
  return [
    "--cluster-name", "tls1",
    "--store-backend", "etcdv3",
    "--store-endpoints", etcd.endpoint,
    "--store-timeout", "2s",
    "--store-cert-file", tls.clientCert,
    "--store-key", tls.clientKey,
    ...extra,
  ];
}

describe("etcd with TLS and client certificates", () => {
  let etcd: EtcdProcess;
  let tls: EtcdTls;
  beforeAll(async () => {
    tls = makeTlsFiles(tmp(), "IP:127.0.0.1");
    etcd = await EtcdProcess.start({ tls });
  });
  afterAll(() => etcd?.stop());

  test("works with the CA and a client certificate", async () => {
    const r = await runCmd("stolonctl", [...flags(etcd, tls, ["--store-ca-file", tls.ca]), "init", "-y"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const s = await runCmd("stolonctl", [...flags(etcd, tls, ["--store-ca-file", tls.ca]), "spec"]);
    expect(JSON.parse(s.stdout)).toEqual({ initMode: "new" });
  });

  test("refuses a server certificate it cannot verify (no CA given)", async () => {
    const r = await runCmd("stolonctl", [...flags(etcd, tls), "spec"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`etcd at ${etcd.endpoint}`);
  });

  test("--store-skip-tls-verify connects without the CA", async () => {
    const r = await runCmd("stolonctl", [...flags(etcd, tls, ["--store-skip-tls-verify"]), "spec"]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ initMode: "new" });
  });
});

describe("etcd whose certificate names another host", () => {
  let etcd: EtcdProcess;
  let tls: EtcdTls;
  beforeAll(async () => {
    tls = makeTlsFiles(tmp(), "DNS:elsewhere.invalid");
    etcd = await EtcdProcess.start({ tls });
  });
  afterAll(() => etcd?.stop());

  test("the host name check fails even with the right CA", async () => {
    const r = await runCmd("stolonctl", [...flags(etcd, tls, ["--store-ca-file", tls.ca]), "status"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("is unavailable");
  });

  test("--store-skip-tls-verify skips it", async () => {
    const r = await runCmd("stolonctl", [...flags(etcd, tls, ["--store-ca-file", tls.ca, "--store-skip-tls-verify"]), "status"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Cluster not initialized at stolon/cluster/tls1");
  });
});
