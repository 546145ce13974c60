/**
 * Where function code comes from: the cargo-lambda zips under a configurable target directory,
 * or a placeholder; tests never need the release Lambda builds.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { lambdaDir, zipPath } from '../lib/code';
import { QRIE_FUNCTIONS } from '../lib/functions';
import { tempDir, testApp } from './support';

const REPO = path.resolve(__dirname, '..', '..');

function scope(context: Record<string, unknown> = {}): Stack {
  return new Stack(new App({ context }), 'S');
}

/** A target dir with a tiny distinct zip (any bytes will do for CDK) per function. */
function fakeTarget(): string {
  const dir = tempDir('qrie-target-');
  for (const fn of QRIE_FUNCTIONS) {
    fs.mkdirSync(path.join(dir, fn.name), { recursive: true });
    fs.writeFileSync(zipPath(dir, fn.name), `not really a zip: ${fn.name}`);
  }
  return dir;
}

describe('lambda code location', () => {
  it('is <repo>/target/lambda by default', () => {
    assert.equal(lambdaDir(scope(), {}), path.join(REPO, 'target', 'lambda'));
  });

  it('follows CARGO_TARGET_DIR, relative to the repository root', () => {
    assert.equal(lambdaDir(scope(), { CARGO_TARGET_DIR: '/var/cache/qrie-target' }), '/var/cache/qrie-target/lambda');
    assert.equal(lambdaDir(scope(), { CARGO_TARGET_DIR: 'build' }), path.join(REPO, 'build', 'lambda'));
  });

  it('prefers QRIE_LAMBDA_DIR, and the qrie:lambdaDir context over everything', () => {
    const env = { CARGO_TARGET_DIR: '/a', QRIE_LAMBDA_DIR: '/b/lambda' };
    assert.equal(lambdaDir(scope(), env), '/b/lambda');
    assert.equal(lambdaDir(scope({ 'qrie:lambdaDir': '/c/lambda' }), env), '/c/lambda');
  });

  it('is <dir>/<kebab-name>/bootstrap.zip per function', () => {
    assert.equal(zipPath('/t/lambda', 'event-processor'), '/t/lambda/event-processor/bootstrap.zip');
  });
});

describe('lambda code modes', () => {
  it('zip: uses each function\'s own zip', () => {
    const dir = fakeTarget();
    const outdir = tempDir('qrie-out-');
    const built = testApp({ outdir, context: { 'qrie:code': 'zip', 'qrie:lambdaDir': dir } });
    const t = Template.fromStack(built.qrie);
    const keys = Object.values(t.findResources('AWS::Lambda::Function')).map((f: any) => f.Properties.Code.S3Key);
    assert.equal(new Set(keys).size, QRIE_FUNCTIONS.length, 'one distinct asset per function');
    const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'Qrie.assets.json'), 'utf8'));
    const zips = Object.values(manifest.files).map((f: any) => f.source)
      .filter((s: any) => s.packaging === 'file' && !s.path.endsWith('.template.json'));
    assert.equal(zips.length, QRIE_FUNCTIONS.length, 'zips are uploaded as they are, not re-zipped');
  });

  it('zip: fails synth naming the missing zip', () => {
    const dir = fakeTarget();
    fs.rmSync(zipPath(dir, 'object-scanner'));
    assert.throws(() => testApp({ context: { 'qrie:code': 'zip', 'qrie:lambdaDir': dir } }),
      new RegExp(`missing \\(run make build\\): ${zipPath(dir, 'object-scanner')}`));
  });

  it('auto: uses the zips when all exist', () => {
    const built = testApp({ context: { 'qrie:code': 'auto', 'qrie:lambdaDir': fakeTarget() } });
    Annotations.fromStack(built.qrie).hasNoWarning('*', Match.stringLikeRegexp('placeholder'));
  });

  it('auto: falls back to the placeholder with a warning when a zip is missing', () => {
    const dir = fakeTarget();
    fs.rmSync(zipPath(dir, 'policy-scanner'));
    const built = testApp({ context: { 'qrie:code': 'auto', 'qrie:lambdaDir': dir } });
    const warnings = Annotations.fromStack(built.qrie).findWarning('*', Match.stringLikeRegexp('placeholder code'));
    assert.equal(warnings.length, QRIE_FUNCTIONS.length, 'all functions get the placeholder, never a mix');
  });

  it('rejects an unknown mode', () => {
    assert.throws(() => testApp({ context: { 'qrie:code': 'release' } }), /qrie:code must be zip, stub or auto/);
  });
});
