/**
 * A CtlIO for stolonctl's unit tests: collects what is printed, answers questions and file reads
 * from what the test scripted, and gives a fixed time (settable) and numbered uids.
 */
import type { CtlIO } from "../../src/ctl/index.ts";

export class ScriptedIO implements CtlIO {
  lines: string[] = [];
  inputs: Record<string, string> = {};
  answer = false;
  questions: string[] = [];
  time = new Date("2026-11-25T12:00:00Z");
  private uids = 0;
  out(text: string) {
    this.lines.push(text);
  }
  async readInput(path: string) {
    const v = this.inputs[path];
    if (v === undefined) throw new Error(`ENOENT: no such file "${path}"`);
    return v;
  }
  async confirm(q: string) {
    this.questions.push(q);
    return this.answer;
  }
  now() {
    return this.time;
  }
  newUid() {
    return `uid${String(this.uids++).padStart(5, "0")}`;
  }
}
