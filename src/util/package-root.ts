/**
 * The folder of the am-distill package: the checkout when run from sources (src/util/), the
 * installed package when run from the build (dist/src/util/). Files that ship beside the code
 * (the native addon, package.json) are found from here, never by counting '..' from a module.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | null = null;

/** The nearest folder above `from` whose package.json names `name`. */
export function findPackageRoot(from: string, name: string): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === name) return dir;
      } catch {
        // an unreadable package.json is not ours: keep looking
      }
    }
    if (dirname(dir) === dir) return null;
  }
}

/** The version in the am-distill package's package.json (what `am-distill --version` and the report print). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The am-distill package folder (throws only if this module was copied out of the package). */
export function packageRoot(): string {
  if (cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  const root = findPackageRoot(here, 'am-distill');
  if (!root) throw new Error(`no am-distill package.json above ${here}`);
  cached = root;
  return root;
}
