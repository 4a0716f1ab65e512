import pkg from "../../package.json" with { type: "json" };

/** The project version from package.json and the Bun that runs it. */
export function versionString(command: string): string {
  return `${command} version ${pkg.version} (bun ${Bun.version})`;
}
