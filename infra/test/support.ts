/**
 * Shared helpers for the infra tests: build the app the way `cdk synth` does (cdk.json context,
 * feature flags included) but with placeholder Lambda code, and read the synthesized templates.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import cdkJson from '../cdk.json';
import { buildApp, type QrieApp } from '../lib/app';
import { CONTRACT, type Contract } from '../lib/contract';

export interface TestAppOptions {
  readonly context?: Record<string, unknown>;
  readonly contract?: Contract;
  readonly nag?: boolean;
  readonly outdir?: string;
}

/** Where the tests put the qrie stack: fixed, so ARNs render as `cdk synth` renders them. */
export const QRIE_ENV = { account: '999999999999', region: 'eu-west-1' };

/** The app with cdk.json's context, placeholder code and, unless overridden, two onboarded accounts. */
export function testApp(options: TestAppOptions = {}): QrieApp {
  return buildApp({
    nag: options.nag ?? false,
    contract: options.contract,
    outdir: options.outdir,
    env: QRIE_ENV,
    context: {
      ...cdkJson.context,
      'qrie:code': 'stub',
      'qrie:accounts': ['111111111111', '222222222222'],
      ...options.context,
    },
  });
}

export function templates(options: TestAppOptions = {}): { qrie: Template; onboarding: Template; app: QrieApp } {
  const app = testApp(options);
  return { qrie: Template.fromStack(app.qrie), onboarding: Template.fromStack(app.onboarding), app };
}

/** A deep copy of the repository's contract to edit in a test. */
export function editableContract(): { -readonly [K in keyof Contract]: any } {
  return JSON.parse(JSON.stringify(CONTRACT));
}

export function logicalId(construct: IConstruct): string {
  const stack = Stack.of(construct);
  return stack.resolve(stack.getLogicalId(construct.node.defaultChild as CfnElement)) as string;
}

export type Resources = Record<string, { Type: string; Properties?: any; [k: string]: any }>;

export function resourcesOfType(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

/** A fresh temp dir, removed at process exit. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every statement of the policies attached to a role (by the role's logical id). */
export function roleStatements(template: Template, roleLogicalId: string): any[] {
  const out: any[] = [];
  for (const policy of Object.values(resourcesOfType(template, 'AWS::IAM::Policy'))) {
    const roles = policy.Properties.Roles as Array<{ Ref: string }>;
    if (roles.some((r) => r.Ref === roleLogicalId)) out.push(...policy.Properties.PolicyDocument.Statement);
  }
  const role = template.toJSON().Resources[roleLogicalId];
  for (const inline of role?.Properties?.Policies ?? []) out.push(...inline.PolicyDocument.Statement);
  return out;
}

export function asList<T>(x: T | T[] | undefined): T[] {
  if (x === undefined) return [];
  return Array.isArray(x) ? x : [x];
}
