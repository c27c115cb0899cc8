// Writes the component with `pam-aws component --out` (the pam-aws on PATH,
// else this repository's target/release or target/debug build) and
// transpiles it with jco into dist/gen: one instantiate() per broker, each
// with its own imports (`--instantiation async`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const repository = resolve(root, '..', '..');
const dist = join(root, 'dist');

function findPamAws() {
  if (process.env.PAM_AWS) return process.env.PAM_AWS;
  for (const dir of (process.env.PATH || '').split(':')) {
    if (dir && existsSync(join(dir, 'pam-aws'))) return join(dir, 'pam-aws');
  }
  for (const profile of ['release', 'debug']) {
    const built = join(repository, 'target', profile, 'pam-aws');
    if (existsSync(built)) return built;
  }
  throw new Error('pam-aws not found on PATH or in target/: run `cargo build --release -p pam-aws` first');
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const wasm = join(dist, 'pam-aws-console.wasm');
execFileSync(findPamAws(), ['component', '--out', wasm], { stdio: 'inherit' });
execFileSync(process.execPath, [
  join(root, 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js'),
  'transpile', wasm, '--out-dir', join(dist, 'gen'), '--name', 'pam-aws-console',
  '--instantiation', 'async', '--quiet',
], { stdio: 'inherit' });
console.log(`built ${join(dist, 'gen')}`);
