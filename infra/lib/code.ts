/**
 * Where each function's code comes from.
 *
 * `make build` runs cargo-lambda, which writes `<target>/lambda/<name>/bootstrap.zip`; the stack
 * uploads those zips as they are. `<target>` is, in order: the `qrie:lambdaDir` context value, the
 * `QRIE_LAMBDA_DIR` environment variable (both name the `lambda` directory itself), then
 * `$CARGO_TARGET_DIR/lambda`, then `<repo>/target/lambda`.
 *
 * The `qrie:code` context value chooses:
 * - `zip`: the zips must exist, or synth fails naming the missing file (`make deploy` uses this);
 * - `stub`: a one-file placeholder for every function (tests, and synth before any Rust build);
 * - `auto` (default): the zips if they all exist, else the placeholder with a synth warning, so
 *   `npx cdk synth` works on a fresh clone.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';

export type CodeMode = 'zip' | 'stub' | 'auto';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The directory holding `<name>/bootstrap.zip`, following the order in the file comment. */
export function lambdaDir(scope: Construct, env: NodeJS.ProcessEnv = process.env): string {
  const fromContext = scope.node.tryGetContext('qrie:lambdaDir') as string | undefined;
  if (fromContext) return path.resolve(REPO_ROOT, fromContext);
  if (env.QRIE_LAMBDA_DIR) return path.resolve(REPO_ROOT, env.QRIE_LAMBDA_DIR);
  // cargo resolves a relative CARGO_TARGET_DIR against where it runs; `make build` runs at the root.
  if (env.CARGO_TARGET_DIR) return path.resolve(REPO_ROOT, env.CARGO_TARGET_DIR, 'lambda');
  return path.join(REPO_ROOT, 'target', 'lambda');
}

export function zipPath(dir: string, functionName: string): string {
  return path.join(dir, functionName, 'bootstrap.zip');
}

export function codeMode(scope: Construct): CodeMode {
  const mode = (scope.node.tryGetContext('qrie:code') as string | undefined) ?? 'auto';
  if (mode !== 'zip' && mode !== 'stub' && mode !== 'auto') {
    throw new Error(`context qrie:code must be zip, stub or auto, got ${JSON.stringify(mode)}`);
  }
  return mode;
}

let stubDir: string | undefined;

/** A directory with a placeholder `bootstrap`, made once per process; CDK zips it as an asset. */
function placeholderDir(): string {
  if (!stubDir) {
    stubDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrie-lambda-stub-'));
    fs.writeFileSync(
      path.join(stubDir, 'bootstrap'),
      '#!/bin/sh\necho "placeholder: run make build before deploying" >&2\nexit 1\n',
      { mode: 0o755 },
    );
  }
  return stubDir;
}

export interface ResolvedCode {
  readonly code: lambda.Code;
  /** True when the placeholder is used although real code was wanted (`auto` without zips). */
  readonly placeholder: boolean;
  readonly expectedZip: string;
  /** True when this function's own zip is missing (rather than another function's). */
  readonly missing: boolean;
}

/**
 * Code for the named functions, all from zips or all placeholders (never a mix, so a half-built
 * target cannot deploy some real and some placeholder functions).
 */
export function resolveCode(scope: Construct, functionNames: readonly string[]): Map<string, ResolvedCode> {
  const mode = codeMode(scope);
  const dir = lambdaDir(scope);
  const zips = new Map(functionNames.map((n) => [n, zipPath(dir, n)]));
  const missing = [...zips.values()].filter((z) => !fs.existsSync(z));
  if (mode === 'zip' && missing.length > 0) {
    throw new Error(`qrie:code=zip but these Lambda zips are missing (run make build): ${missing.join(', ')}`);
  }
  const useZips = mode === 'zip' || (mode === 'auto' && missing.length === 0);
  const result = new Map<string, ResolvedCode>();
  for (const [name, zip] of zips) {
    result.set(name, {
      code: useZips ? lambda.Code.fromAsset(zip) : lambda.Code.fromAsset(placeholderDir()),
      placeholder: !useZips && mode === 'auto',
      expectedZip: zip,
      missing: !fs.existsSync(zip),
    });
  }
  return result;
}
