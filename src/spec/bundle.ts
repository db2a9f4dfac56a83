// Reading an OCI bundle: <bundle>/config.json and its root filesystem.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, MoatError, errnoCode } from '../util/errors';
import type { Process, Spec } from './types';
import { parseSpec } from './validate';
import { callerPath } from '../util/caller';

export interface Bundle {
  /** Absolute bundle directory. */
  dir: string;
  spec: Spec & { process: Process };
  /** Absolute, resolved root filesystem directory. */
  rootfs: string;
}

export function loadBundle(bundleDir: string): Bundle {
  const dir = path.resolve(callerPath(bundleDir));
  const configPath = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(configPath, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') throw new MoatError('EBUNDLE', `bundle ${dir}: config.json not found`);
    throw new MoatError('EBUNDLE', `bundle ${dir}: cannot read config.json: ${code ?? (err as Error).message}`);
  }
  const spec = parseSpec(text);
  if (!spec.process) throw new ConfigError('process', 'missing: a container needs a process to run');
  if (!spec.root) throw new ConfigError('root', 'missing: a container needs a root filesystem');
  return { dir, spec: spec as Spec & { process: Process }, rootfs: resolveRootfs(dir, spec.root.path) };
}

export function resolveRootfs(bundleDir: string, rootPath: string): string {
  const abs = path.resolve(bundleDir, rootPath);
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch {
    throw new MoatError('EBUNDLE', `root.path: ${abs} does not exist`);
  }
  if (!fs.statSync(real).isDirectory()) throw new MoatError('EBUNDLE', `root.path: ${abs} is not a directory`);
  if (real === '/') throw new MoatError('EBUNDLE', 'root.path: the host root cannot be a container rootfs');
  // The executor receives it as plan tokens and overlay options: refuse what cannot be carried.
  if (/[\n\0]/.test(real)) throw new MoatError('EBUNDLE', `root.path: ${JSON.stringify(real)} contains a newline`);
  return real;
}
