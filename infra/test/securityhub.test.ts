/**
 * AWS Security Hub imports, per deployment: off by default; with context `qrie:securityHub` the
 * scanner and the event processor get QRIE_SECURITY_HUB=enabled and may assume the scanner role
 * (the imports are made in each customer account, through its role), and the onboarding
 * template's optional EnableSecurityHubImports grants that role BatchImportFindings on the
 * account's own default product only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Template } from 'aws-cdk-lib/assertions';
import { CONTRACT } from '../lib/contract';
import { QRIE_FUNCTIONS } from '../lib/functions';
import { SECURITY_HUB_ENV } from '../lib/qrie-stack';
import { asList, logicalId, roleStatements, templates } from './support';

const IMPORTING = ['event-processor', 'policy-scanner'];

function envOf(app: ReturnType<typeof templates>, name: string): Record<string, any> {
  const id = logicalId(app.app.qrie.functions.get(name)!);
  return app.qrie.toJSON().Resources[id].Properties.Environment?.Variables ?? {};
}

function assumesScannerRole(app: ReturnType<typeof templates>, name: string): boolean {
  const roleId = logicalId(app.app.qrie.functions.get(name)!.role!);
  return roleStatements(app.qrie, roleId).some((s) => asList<string>(s.Action).includes('sts:AssumeRole'));
}

function importPolicy(onboarding: Template): any {
  const policies = Object.values(onboarding.toJSON().Resources as Record<string, any>)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.PolicyName === 'QrieSecurityHubImports');
  assert.equal(policies.length, 1);
  return policies[0];
}

describe('Security Hub imports', () => {
  const off = templates();
  const on = templates({ context: { 'qrie:securityHub': true } });

  it('are named in the contract for the scanner and the event processor, with the customer permission', () => {
    const named = Object.entries(CONTRACT.functions).filter(([, f]) => f.env.includes(SECURITY_HUB_ENV)).map(([n]) => n).sort();
    assert.deepEqual(named, IMPORTING);
    assert.deepEqual(CONTRACT.security_hub_permissions, ['securityhub:BatchImportFindings']);
  });

  it('are off by default: disabled, and the scanner assumes no role', () => {
    for (const name of IMPORTING) assert.equal(envOf(off, name)[SECURITY_HUB_ENV], 'disabled', name);
    assert.equal(assumesScannerRole(off, 'policy-scanner'), false);
    assert.equal(off.onboarding.toJSON().Parameters.EnableSecurityHubImports.Default, 'false');
  });

  it('with qrie:securityHub: enabled for the scanner and the event processor, which may assume the scanner role', () => {
    for (const fn of QRIE_FUNCTIONS) {
      const env = envOf(on, fn.name);
      if (IMPORTING.includes(fn.name)) {
        assert.equal(env[SECURITY_HUB_ENV], 'enabled', fn.name);
        assert.equal(env.QRIE_SCANNER_ROLE_NAME, CONTRACT.scanner_role_name, fn.name);
        assert.ok(assumesScannerRole(on, fn.name), fn.name);
      } else {
        assert.equal(env[SECURITY_HUB_ENV], undefined, fn.name);
      }
    }
    assert.equal(on.onboarding.toJSON().Parameters.EnableSecurityHubImports.Default, 'true');
  });

  it('are granted in the customer account only on its own default product, only when asked', () => {
    const policy = importPolicy(on.onboarding);
    assert.equal(policy.Condition, 'ImportsSecurityHub');
    const [statement] = policy.Properties.PolicyDocument.Statement;
    assert.deepEqual(statement.Action, ['securityhub:BatchImportFindings']);
    assert.deepEqual(statement.Resource, {
      'Fn::Sub': 'arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:product/${AWS::AccountId}/default',
    });
    const condition = on.onboarding.toJSON().Conditions.ImportsSecurityHub['Fn::And'];
    assert.ok(JSON.stringify(condition).includes('EnableSecurityHubImports'), JSON.stringify(condition));
    assert.ok(JSON.stringify(condition).includes('IsScannerRoleRegion'), JSON.stringify(condition));
  });

  it('refuses a context value that is not a boolean', () => {
    assert.throws(() => templates({ context: { 'qrie:securityHub': 'yes' } }), /qrie:securityHub must be true or false/);
  });
});
