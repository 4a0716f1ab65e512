/** The uid and parameter-name patterns exist once (src/cluster/patterns.ts); every check uses them. */
import { expect, test } from "bun:test";
import { PG_PARAM_NAME_RE, UID_RE, validateSpec } from "../../../src/cluster/index.ts";
import { KEEPER_UID_RE } from "../../../src/keeper/config.ts";

test("the keeper's --uid check is the cluster's uid pattern, not a copy", () => {
  expect(KEEPER_UID_RE).toBe(UID_RE);
});

test("validateSpec names the uid pattern it checks with", () => {
  const problems = validateSpec({ initMode: "existing", existingConfig: { keeperUID: "Bad-Uid" } });
  expect(problems).toContain(`existingConfig.keeperUID: "Bad-Uid" must match ${UID_RE.source}`);
});

test("parameter names: letters, digits, _ and . (not first), as the spec accepts them", () => {
  const cases: [string, boolean][] = [
    ["shared_buffers", true],
    ["auto_explain.log_min_duration", true],
    ["_x", true],
    ["1abc", false],
    ["a-b", false],
    ["a b", false],
  ];
  for (const [name, ok] of cases) expect([name, PG_PARAM_NAME_RE.test(name)]).toEqual([name, ok]);
  expect(validateSpec({ initMode: "new", pgParameters: { "a-b": "1" } })).toContain(`pgParameters: "a-b" is not a valid parameter name`);
});
