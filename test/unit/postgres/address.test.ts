/** IP addresses for pg_hba.conf: what is one, in which canonical form, and what is loopback. */
import { describe, expect, test } from "bun:test";
import { hostCidr, hostProblem, listensOnLoopbackOnly, parseIpAddress } from "../../../src/postgres/address.ts";

describe("parseIpAddress", () => {
  test.each([
    ["10.0.0.1", "10.0.0.1/32", false],
    ["127.3.2.1", "127.3.2.1/32", true],
    ["0:0:0:0:0:0:0:1", "::1/128", true],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3/128", false],
    ["FD00:0:0:0:1:0:0:0", "fd00::1:0:0:0/128", false],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8/128", false],
    ["::ffff:127.0.0.1", "127.0.0.1/32", true],
    ["::ffff:7f00:2", "127.0.0.2/32", true],
    ["::127.0.0.1", "::7f00:1/128", false],
  ])("%s -> %s", (addr, cidr, loopback) => {
    const ip = parseIpAddress(addr);
    if ("error" in ip) throw new Error(ip.error);
    expect(hostCidr(ip)).toBe(cidr);
    expect(ip.loopback).toBe(loopback);
  });

  test("unspecified addresses are marked; anything else is an error", () => {
    for (const a of ["0.0.0.0", "::", "::ffff:0.0.0.0"]) expect(parseIpAddress(a)).toMatchObject({ unspecified: true });
    for (const a of ["", "1.2.3", "127.1", "0x7f.0.0.1", "1.2.3.4 ", "[::1]", "::1/128", "fe80::1%lo"]) expect(parseIpAddress(a)).toHaveProperty("error");
  });
});

describe("hostProblem and listensOnLoopbackOnly", () => {
  test("host names pass, numbers that are not an IPv4 address do not", () => {
    expect(hostProblem("db-1.example.com")).toBeNull();
    expect(hostProblem("localhost")).toBeNull();
    expect(hostProblem("stolon_keeper_1")).toBeNull();
    expect(hostProblem("fe80::1%eth0")).toBeNull();
    expect(hostProblem("127.1")).toMatch(/not a valid IPv4 address/);
    expect(hostProblem("0x7f000001")).toMatch(/not a valid IPv4 address/);
    expect(hostProblem("-bad-.example")).toMatch(/neither an IP address nor a host name/);
  });

  test("loopback only when every entry is", () => {
    expect(listensOnLoopbackOnly("127.0.0.1, ::1,localhost")).toBe(true);
    expect(listensOnLoopbackOnly("127.0.0.1,10.0.0.1")).toBe(false);
    expect(listensOnLoopbackOnly("*")).toBe(false);
    expect(listensOnLoopbackOnly("0.0.0.0")).toBe(false);
    expect(listensOnLoopbackOnly("db1")).toBe(false);
  });
});
