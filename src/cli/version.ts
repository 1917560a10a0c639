// The version `vmx-debug --version` prints: package.json's, found by walking up from this
// module (out/src/cli/ when built, src/cli/ when run from source).
import * as fs from 'node:fs';
import * as path from 'node:path';

const PACKAGE_NAME = 'vmx-debug';

/** package.json's version; throws when no vmx-debug package.json is found above `startDir`. */
export function packageVersion(startDir: string = __dirname): string {
  for (let dir = path.resolve(startDir); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return pkg.version;
    }
    if (path.dirname(dir) === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${startDir}`);
  }
}
