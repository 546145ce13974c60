/**
 * cdk-nag's AwsSolutions checks over both stacks: zero unsuppressed errors, and every suppression
 * (acknowledgement) carries a specific reason.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { editableContract, tempDir, testApp } from './support';
import { validateContract } from '../lib/contract';

interface Violation {
  ruleName: string;
  severity?: string;
  violatingConstructs: Array<{ constructPath: string }>;
}

/** Synthesizes with cdk-nag and returns the error-level findings of the validation report. */
function nagErrors(options: Parameters<typeof testApp>[0] = {}): string[] {
  const outdir = tempDir('qrie-nag-');
  const { app } = testApp({ ...options, nag: true, outdir });
  let thrown: unknown;
  try {
    app.synth();
  } catch (e) {
    thrown = e;
  }
  const reportFile = path.join(outdir, 'validation-report.json');
  assert.ok(fs.existsSync(reportFile), `synth wrote a validation report (${String(thrown ?? '')})`);
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as { pluginReports: Array<{ pluginName: string; violations: Violation[] }> };
  // The AwsSolutions plugin appears in the report only when it has findings; the test below that
  // adds an unencrypted queue shows it runs.
  const errors = report.pluginReports.flatMap((r) => r.violations)
    .filter((v) => v.ruleName.startsWith('AwsSolutions-') && (v.severity ?? 'error') === 'error')
    .flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} at ${c.constructPath}`));
  if (errors.length === 0) assert.equal(thrown, undefined, 'synth succeeded');
  return errors;
}

function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  const out: Array<{ path: string; id: string; reason: string }> = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)) {
      // Stored as { "Annotation::<rule id>": reason }.
      for (const [key, reason] of Object.entries(entry.data as Record<string, string>)) {
        out.push({ path: c.node.path, id: key.replace(/^Annotation::/, ''), reason });
      }
    }
  }
  return out;
}

describe('cdk-nag AwsSolutions', () => {
  it('finds no unsuppressed error in either stack (onboarded accounts)', () => {
    assert.deepEqual(nagErrors(), []);
  });

  it('finds none with an organization instead of accounts', () => {
    assert.deepEqual(nagErrors({ context: { 'qrie:accounts': [], 'qrie:organizationId': 'o-abc123def4' } }), []);
  });

  it('finds none with own-account buckets opened to the object scanner', () => {
    assert.deepEqual(nagErrors({ context: { 'qrie:scanBuckets': 'qrie-exports,qrie-uploads' } }), []);
  });

  it('finds none when the contract grows (new function, wildcard collector action)', () => {
    const c = editableContract();
    c.functions['event-processor'] = {
      lambda_name: 'qrie_event_processor',
      tables: ['resources', 'findings'],
      env: ['QRIE_RESOURCES_TABLE', 'QRIE_FINDINGS_TABLE', 'QRIE_SCANNER_ROLE_NAME', 'QRIE_OBJECT_SCAN_QUEUE_URL'],
    };
    c.collector_permissions.ec2 = ['ec2:Describe*'];
    assert.deepEqual(nagErrors({ contract: validateContract(c) }), []);
  });

  it('reports an error that is not acknowledged (the check is live)', () => {
    const built = testApp({ nag: true, outdir: tempDir('qrie-nag-') });
    new sqs.Queue(built.qrie, 'UnencryptedNoDlq', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    assert.throws(() => built.app.synth(), /Validation failed/);
  });

  it('gives every acknowledgement a specific reason', () => {
    const acks = acknowledgements(testApp({ nag: true }).app);
    assert.ok(acks.length > 0);
    for (const a of acks) {
      assert.match(a.id, /^AwsSolutions-[A-Z0-9]+(\[.+\])?$/, `${a.path}: rule id`);
      assert.ok(a.reason.length >= 40, `${a.path} ${a.id}: reason too short: "${a.reason}"`);
    }
  });
});
