// Builds every sample guest with GNU binutils: samples/NAME/NAME.S is assembled with line
// info (as -g) and samples/common/ on the include path (the shared boot.inc, serial.inc, ...),
// linked with samples/NAME/NAME.ld, or samples/common/guest.ld when the sample has none, into
// NAME.elf (ELF64, symbols, DWARF), and copied to a flat image NAME.bin (objcopy -O binary; it
// starts at the linker script's LOAD_ADDRESS). The built files are committed, so users without
// a toolchain can run them.
//
//   node samples/build.mjs [--out DIR] [NAME...]
//
// --out DIR writes DIR/NAME/NAME.{elf,bin} instead of into the sample's own directory (the
// tests use it to check that the committed files match a fresh build). The tools can be
// overridden with AS, LD and OBJCOPY (for example x86_64-linux-gnu-as on other hosts).
// The output is reproducible: the source directory is recorded in the DWARF as ".", included
// files as "../common/FILE" (relative to it), and no build id is written, so the same binutils
// give the same bytes wherever the tree lives.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const samplesDir = path.dirname(fileURLToPath(import.meta.url));
/** Shared include files and the default linker script; not a sample itself (it has no COMMON.S). */
const COMMON = 'common';
const DEFAULT_LINKER_SCRIPT = 'guest.ld';
const tools = {
  as: process.env.AS || 'as',
  ld: process.env.LD || 'ld',
  objcopy: process.env.OBJCOPY || 'objcopy',
};

class BuildError extends Error {}

function run(tool, args, cwd) {
  const r = spawnSync(tool, args, { cwd, encoding: 'utf8' });
  if (r.error && r.error.code === 'ENOENT') {
    throw new BuildError(`${tool} was not found: building the samples needs GNU binutils (as, ld, objcopy), ` +
      'for example `apt-get install binutils`; the committed .elf and .bin files can be run without them');
  }
  if (r.error) throw new BuildError(`${tool} could not be started: ${r.error.message}`);
  if (r.status !== 0) throw new BuildError(`${tool} ${args.join(' ')} failed:\n${r.stderr}`);
  if (r.stderr.trim() !== '') process.stderr.write(r.stderr);
}

function sampleNames() {
  return fs.readdirSync(samplesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(samplesDir, d.name, `${d.name}.S`)))
    .map((d) => d.name)
    .sort();
}

function build(name, outRoot) {
  const src = path.join(samplesDir, name);
  if (!fs.existsSync(path.join(src, `${name}.S`))) throw new BuildError(`sample ${name}: ${name}.S is missing in ${src}`);
  // paths relative to the sample's directory, so that none of the build's own location ends up in the output
  const includeDir = path.join('..', COMMON);
  const script = fs.existsSync(path.join(src, `${name}.ld`)) ? `${name}.ld` : path.join(includeDir, DEFAULT_LINKER_SCRIPT);
  if (!fs.existsSync(path.join(src, script))) throw new BuildError(`sample ${name}: no ${name}.ld and no ${path.join(samplesDir, COMMON, DEFAULT_LINKER_SCRIPT)}`);
  const out = outRoot === undefined ? src : path.join(outRoot, name);
  fs.mkdirSync(out, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `vmx-sample-${name}-`));
  try {
    const obj = path.join(tmp, `${name}.o`);
    const elf = path.join(out, `${name}.elf`);
    run(tools.as, ['--64', '-g', `--debug-prefix-map=${src}=.`, '-I', includeDir, '-o', obj, `${name}.S`], src);
    run(tools.ld, ['-T', script, '--build-id=none', '-o', elf, obj], src);
    run(tools.objcopy, ['-O', 'binary', elf, path.join(out, `${name}.bin`)], src);
    return out;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function main(argv) {
  let outRoot;
  const names = [];
  for (let k = 0; k < argv.length; k++) {
    if (argv[k] === '--out') {
      if (argv[k + 1] === undefined) throw new BuildError('--out needs a directory');
      outRoot = path.resolve(argv[++k]);
    } else if (argv[k].startsWith('-')) {
      throw new BuildError(`unknown option ${argv[k]} (usage: node samples/build.mjs [--out DIR] [NAME...])`);
    } else {
      names.push(argv[k]);
    }
  }
  const all = sampleNames();
  for (const n of names) if (!all.includes(n)) throw new BuildError(`no sample named ${n} (samples: ${all.join(', ')})`);
  for (const n of names.length > 0 ? names : all) {
    const out = build(n, outRoot);
    console.log(`built ${path.relative(process.cwd(), path.join(out, n))}.{elf,bin}`);
  }
}

try {
  main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof BuildError)) throw e;
  console.error(`samples: ${e.message}`);
  process.exit(1);
}
