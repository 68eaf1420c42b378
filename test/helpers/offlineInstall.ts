import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [key: string]: unknown;
}

interface Lockfile {
  name: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}

/** Node's lookup inside a lockfile: `name` from `from`'s own node_modules, then each parent's. */
function locate(packages: Lockfile["packages"], from: string, name: string): string | undefined {
  for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf("/node_modules/")))) {
    const key = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[key]) return key;
    if (!dir) return undefined;
  }
}

/**
 * Writes package.json and package-lock.json of an empty project that depends on `tarball` (in
 * `projectDir`) and has `devDependencies`, with every version taken from this repository's
 * lockfile. Packuments are not in the npm cache that `npm ci` fills, only tarballs by integrity,
 * so a pinned lockfile is what lets `npm ci --offline` install the packed package.
 */
export async function writeOfflineProject(
  projectDir: string,
  repoDir: string,
  tarball: string,
  devDependencies: string[],
): Promise<void> {
  const repoLock = JSON.parse(await readFile(path.join(repoDir, "package-lock.json"), "utf8")) as Lockfile;
  const manifest = JSON.parse(await readFile(path.join(repoDir, "package.json"), "utf8")) as {
    name: string;
    version: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
    engines?: Record<string, string>;
  };
  const spec = `file:${tarball}`;
  const dev = Object.fromEntries(devDependencies.map((name) => [name, repoLock.packages[`node_modules/${name}`]!.version!]));

  // The closure of what the package and the dev tools need, as the repository resolved it.
  const wanted = new Map<string, boolean>(); // lock key -> dev only
  const visit = (key: string, devOnly: boolean) => {
    if (wanted.has(key) && (devOnly || !wanted.get(key))) return;
    wanted.set(key, devOnly);
    const entry = repoLock.packages[key]!;
    const deps = { ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies };
    for (const name of Object.keys(deps)) {
      const found = locate(repoLock.packages, key, name);
      if (found) visit(found, devOnly);
      else if (!entry.peerDependencies?.[name] && !entry.optionalDependencies?.[name]) {
        throw new Error(`${key} needs ${name}, which the lockfile does not hold`);
      }
    }
  };
  for (const name of Object.keys(manifest.dependencies)) visit(`node_modules/${name}`, false);
  for (const name of devDependencies) visit(`node_modules/${name}`, true);

  const packages: Lockfile["packages"] = {
    "": { name: "try-pastiche", dependencies: { [manifest.name]: spec }, devDependencies: dev },
    [`node_modules/${manifest.name}`]: {
      version: manifest.version,
      resolved: spec,
      dependencies: manifest.dependencies,
      bin: manifest.bin,
      engines: manifest.engines,
    },
  };
  for (const [key, devOnly] of [...wanted].sort(([a], [b]) => a.localeCompare(b))) {
    const { dev: _dev, devOptional, ...entry } = repoLock.packages[key]!;
    const optional = entry.optional || devOptional;
    packages[key] = { ...entry, ...(devOnly ? { dev: true } : {}), ...(optional && !devOnly ? { optional: true } : {}) };
  }
  const pkg = { name: "try-pastiche", private: true, dependencies: { [manifest.name]: spec }, devDependencies: dev };
  await writeFile(path.join(projectDir, "package.json"), JSON.stringify(pkg, null, 2));
  await writeFile(
    path.join(projectDir, "package-lock.json"),
    JSON.stringify({ name: "try-pastiche", lockfileVersion: 3, requires: true, packages }, null, 2),
  );
}
