/**
 * The customer onboarding stack: a plain, asset-free template with parameters; the scanner role
 * (trust, ExternalId, exactly the contract's collector permissions); the event forwarding rule.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CLOUDTRAIL_DETAIL_TYPE, CONTRACT, collectorActions, coveredEventSources } from '../lib/contract';
import { logicalId, resourcesOfType, roleStatements, templates, tempDir, testApp } from './support';

const { onboarding, app } = templates();
const json = onboarding.toJSON();
const scannerRoleId = logicalId(app.onboarding.scannerRole);

describe('onboarding template', () => {
  it('takes the qrie account id, ExternalId and qrie event bus ARN as parameters', () => {
    assert.deepEqual(Object.keys(json.Parameters).sort(),
      ['EnableSecurityHubImports', 'ExternalId', 'QrieAccountId', 'QrieEventBusArn', 'ScannerRoleRegion']);
    assert.equal(json.Parameters.ExternalId.NoEcho, true);
    assert.equal(json.Parameters.QrieAccountId.AllowedPattern, '^\\d{12}$');
    assert.ok(new RegExp(json.Parameters.QrieEventBusArn.AllowedPattern)
      .test('arn:aws:events:eu-west-1:999999999999:event-bus/qrie-cloudtrail'));
  });

  it('is usable in a StackSet: no assets, no bootstrap rule, no CDK metadata, no fixed account or region', () => {
    const outdir = tempDir('qrie-onboarding-');
    const synthesized = testApp({ outdir }).app.synth();
    const artifact = synthesized.getStackByName(app.onboarding.stackName);
    assert.equal(artifact.assets.length, 0);
    const assetManifest = JSON.parse(fs.readFileSync(path.join(outdir, `${app.onboarding.stackName}.assets.json`), 'utf8'));
    // The only file is the template itself (what `cdk deploy` uploads); nothing else to stage.
    for (const file of Object.values(assetManifest.files ?? {}) as Array<{ source: { path: string } }>) {
      assert.equal(file.source.path, `${app.onboarding.stackName}.template.json`);
    }
    assert.deepEqual(assetManifest.dockerImages ?? {}, {});
    assert.equal(json.Rules, undefined);
    onboarding.resourceCountIs('AWS::CDK::Metadata', 0);
    assert.equal(artifact.environment.account, 'unknown-account');
    assert.equal(artifact.environment.region, 'unknown-region');
  });
});

describe('scanner role', () => {
  const role = json.Resources[scannerRoleId];

  it('is named by the contract and created once per account, in the ScannerRoleRegion', () => {
    assert.equal(role.Properties.RoleName, CONTRACT.scanner_role_name);
    assert.equal(role.Condition, 'IsScannerRoleRegion');
    assert.deepEqual(json.Conditions.IsScannerRoleRegion, { 'Fn::Equals': [{ Ref: 'AWS::Region' }, { Ref: 'ScannerRoleRegion' }] });
  });

  it('trusts only the qrie account, and only with the ExternalId', () => {
    const trust = role.Properties.AssumeRolePolicyDocument.Statement;
    assert.equal(trust.length, 1);
    assert.equal(trust[0].Effect, 'Allow');
    assert.equal(trust[0].Action, 'sts:AssumeRole');
    assert.deepEqual(trust[0].Principal, {
      AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'QrieAccountId' }, ':root']] },
    });
    assert.deepEqual(trust[0].Condition, { StringEquals: { 'sts:ExternalId': { Ref: 'ExternalId' } } });
  });

  it('may do exactly the contract\'s collector_permissions, all services flattened', () => {
    // (The optional Security Hub import policy is checked in securityhub.test.ts.)
    const statements = roleStatements(onboarding, scannerRoleId).filter((s) => s.Sid !== 'QrieImportsOwnFindings');
    assert.equal(statements.length, 1);
    assert.equal(statements[0].Effect, 'Allow');
    const expected = [...new Set(Object.values(CONTRACT.collector_permissions).flat())].sort();
    assert.deepEqual([...statements[0].Action].sort(), expected);
    assert.deepEqual(collectorActions(CONTRACT), expected);
    assert.equal(role.Properties.ManagedPolicyArns, undefined);
  });

  it('stays under IAM\'s 10,240-character limit for a role\'s inline policies', () => {
    const size = JSON.stringify(role.Properties.Policies.map((p: any) => p.PolicyDocument)).length;
    assert.ok(size < 10_240 * 0.8, `inline policy is ${size} characters; split it before the contract grows further`);
  });

  it('is read-only: every action reads (Get, List, Describe, ...) or builds an IAM report', () => {
    for (const action of collectorActions(CONTRACT)) {
      assert.match(action.split(':')[1], /^(Get|List|Describe|Lookup|Search|GenerateCredentialReport$|GenerateServiceLastAccessedDetails$)/, action);
    }
  });
});

describe('event forwarding', () => {
  const rule = json.Resources[logicalId(app.onboarding.forwardingRule)].Properties;

  it('forwards the covered services\' mutating management events', () => {
    assert.deepEqual(rule.EventPattern, {
      source: coveredEventSources(CONTRACT),
      'detail-type': [CLOUDTRAIL_DETAIL_TYPE],
      detail: { readOnly: [false] },
    });
    assert.equal(rule.EventBusName, undefined, 'rule is on the default bus, where CloudTrail events arrive');
  });

  it('targets the qrie bus with a role that may only put events there', () => {
    assert.equal(rule.Targets.length, 1);
    assert.deepEqual(rule.Targets[0].Arn, { Ref: 'QrieEventBusArn' });
    const roleId = rule.Targets[0].RoleArn['Fn::GetAtt'][0];
    const forwarder = json.Resources[roleId].Properties;
    assert.deepEqual(forwarder.AssumeRolePolicyDocument.Statement.map((s: any) => s.Principal), [{ Service: 'events.amazonaws.com' }]);
    const statements = roleStatements(onboarding, roleId);
    assert.deepEqual(statements.map((s) => [s.Action, s.Resource]), [['events:PutEvents', { Ref: 'QrieEventBusArn' }]]);
  });

  it('has only the two roles, the two policies (one of them the optional Security Hub import) and the rule', () => {
    const types = Object.values(json.Resources).map((r: any) => r.Type).sort();
    assert.deepEqual(types, ['AWS::Events::Rule', 'AWS::IAM::Policy', 'AWS::IAM::Policy', 'AWS::IAM::Role', 'AWS::IAM::Role']);
    assert.equal(Object.keys(resourcesOfType(onboarding, 'AWS::IAM::Role')).length, 2);
  });
});
