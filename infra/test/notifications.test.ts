/**
 * The findings topic: encrypted with the qrie key and TLS only, its ARN and the notification
 * threshold passed to exactly the policy scanner and the event processor, which alone may publish
 * to it; the threshold is a context value (default high) that synth checks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CONTRACT } from '../lib/contract';
import { QRIE_FUNCTIONS } from '../lib/functions';
import { FINDINGS_TOPIC_ENV, NOTIFY_MIN_SEVERITY_ENV } from '../lib/qrie-stack';
import { asList, logicalId, resourcesOfType, roleStatements, templates, testApp } from './support';

const { qrie, app } = templates();
const stack = app.qrie;
const resources = qrie.toJSON().Resources as Record<string, any>;
const topicId = logicalId(stack.findingsTopic);
const keyId = logicalId(stack.key);
const NOTIFYING = ['event-processor', 'policy-scanner'];

function envOf(template: Template, name: string): Record<string, any> {
  const id = logicalId(stack.functions.get(name)!);
  return template.toJSON().Resources[id].Properties.Environment?.Variables ?? {};
}

/** The statements of a role that allow `sns:Publish`, with their resources. */
function publishStatements(name: string): any[] {
  const roleId = logicalId(stack.functions.get(name)!.role!);
  return roleStatements(qrie, roleId).filter((s) => asList<string>(s.Action).some((a) => a === 'sns:Publish' || a === 'sns:*'));
}

describe('findings topic', () => {
  it('is encrypted with the qrie key and refuses requests without TLS', () => {
    const topic = resources[topicId];
    assert.equal(topic.Type, 'AWS::SNS::Topic');
    assert.deepEqual(topic.Properties.KmsMasterKeyId, { 'Fn::GetAtt': [keyId, 'Arn'] });
    const policies = Object.values(resourcesOfType(qrie, 'AWS::SNS::TopicPolicy'))
      .filter((p) => p.Properties.Topics.some((t: any) => t.Ref === topicId));
    assert.equal(policies.length, 1);
    assert.ok(policies[0].Properties.PolicyDocument.Statement.some((s: any) =>
      s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'));
  });

  it('is named in the contract for exactly the scanner and the event processor', () => {
    const withTopic = Object.entries(CONTRACT.functions).filter(([, f]) => f.env.includes(FINDINGS_TOPIC_ENV)).map(([n]) => n).sort();
    assert.deepEqual(withTopic, NOTIFYING);
    for (const name of NOTIFYING) assert.ok(CONTRACT.functions[name].env.includes(NOTIFY_MIN_SEVERITY_ENV), name);
  });

  it('is passed, with the default threshold high, to the scanner and the event processor only', () => {
    for (const fn of QRIE_FUNCTIONS) {
      const env = envOf(qrie, fn.name);
      if (NOTIFYING.includes(fn.name)) {
        assert.deepEqual(env[FINDINGS_TOPIC_ENV], { Ref: topicId }, fn.name);
        assert.equal(env[NOTIFY_MIN_SEVERITY_ENV], 'high', fn.name);
      } else {
        assert.equal(env[FINDINGS_TOPIC_ENV], undefined, fn.name);
        assert.equal(env[NOTIFY_MIN_SEVERITY_ENV], undefined, fn.name);
      }
    }
  });

  it('may be published to by exactly those two functions, on that topic alone', () => {
    for (const fn of QRIE_FUNCTIONS) {
      const statements = publishStatements(fn.name);
      if (!NOTIFYING.includes(fn.name)) {
        assert.deepEqual(statements, [], `${fn.name} may not publish`);
        continue;
      }
      assert.ok(statements.length > 0, `${fn.name} may publish`);
      for (const s of statements) assert.deepEqual(asList(s.Resource), [{ Ref: topicId }], fn.name);
      // and may use the topic's key to do so
      const roleId = logicalId(stack.functions.get(fn.name)!.role!);
      assert.ok(roleStatements(qrie, roleId).some((s) => asList<string>(s.Action).includes('kms:GenerateDataKey*') &&
        asList<any>(s.Resource).some((r) => r?.['Fn::GetAtt']?.[0] === keyId)), fn.name);
    }
  });

  it('has its ARN in the stack outputs', () => {
    qrie.hasOutput('FindingsTopicArn', { Value: { Ref: topicId } });
  });
});

describe('notification threshold', () => {
  it('comes from context qrie:notifyMinSeverity, in any case', () => {
    const critical = testApp({ context: { 'qrie:notifyMinSeverity': 'CRITICAL' } });
    const t = Template.fromStack(critical.qrie);
    for (const name of NOTIFYING) {
      const id = logicalId(critical.qrie.functions.get(name)!);
      assert.equal(t.toJSON().Resources[id].Properties.Environment.Variables[NOTIFY_MIN_SEVERITY_ENV], 'critical', name);
    }
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [NOTIFY_MIN_SEVERITY_ENV]: 'critical' }) },
    });
  });

  it('refuses a severity qrie does not know, naming the key', () => {
    assert.throws(() => testApp({ context: { 'qrie:notifyMinSeverity': 'urgent' } }), /qrie:notifyMinSeverity.*urgent/);
  });
});
