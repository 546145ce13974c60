/**
 * The qrie stack, item by item from the issue: tables' settings, functions, schedules, the
 * CloudTrail path, the object-scan path, alarms, least privilege and nothing public.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CLOUDTRAIL_DETAIL_TYPE, CONTRACT, coveredEventSources, tableAccess } from '../lib/contract';
import { MAX_RECEIVE_COUNT, QRIE_FUNCTIONS } from '../lib/functions';
import { EVENT_BUS_NAME } from '../lib/qrie-stack';
import { QRIE_ENV, asList, logicalId, resourcesOfType, roleStatements, templates, testApp } from './support';

const { qrie, app } = templates();
const stack = app.qrie;
const resources = qrie.toJSON().Resources as Record<string, any>;
const keyId = logicalId(stack.key);
const fnId = (name: string) => logicalId(stack.functions.get(name)!);

describe('tables', () => {
  it('are on-demand, point-in-time recoverable, encrypted with the qrie key and retained', () => {
    const tables = Object.values(resourcesOfType(qrie, 'AWS::DynamoDB::Table'));
    assert.equal(tables.length, Object.keys(CONTRACT.tables).length);
    for (const t of tables) {
      assert.equal(t.Properties.BillingMode, 'PAY_PER_REQUEST', t.Properties.TableName);
      assert.deepEqual(t.Properties.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
      assert.deepEqual(t.Properties.SSESpecification, {
        KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] }, SSEEnabled: true, SSEType: 'KMS',
      });
      assert.equal(t.Properties.DeletionProtectionEnabled, true);
      assert.equal(t.DeletionPolicy, 'Retain');
    }
  });

  it('use a customer-managed key with rotation', () => {
    qrie.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });
});

describe('functions', () => {
  for (const fn of QRIE_FUNCTIONS) {
    it(`${fn.name}: provided.al2023 arm64 bootstrap with its memory, timeout, concurrency and log retention`, () => {
      const p = resources[fnId(fn.name)].Properties;
      assert.equal(p.FunctionName, CONTRACT.functions[fn.name]?.lambda_name ?? fn.lambdaName);
      assert.equal(p.Runtime, 'provided.al2023');
      assert.deepEqual(p.Architectures, ['arm64']);
      assert.equal(p.Handler, 'bootstrap');
      assert.equal(p.MemorySize, fn.memorySize);
      assert.equal(p.Timeout, fn.timeout.toSeconds());
      assert.equal(p.ReservedConcurrentExecutions, fn.reservedConcurrency);
      const logGroup = resources[p.LoggingConfig.LogGroup.Ref];
      assert.equal(logGroup.Properties.LogGroupName, `/aws/lambda/${p.FunctionName}`);
      assert.equal(logGroup.Properties.RetentionInDays, 90);
    });
  }

  it('time out as the issue asks: inventory and scanner 15 min, event processor 60 s, object scanner 5 min', () => {
    const timeouts = Object.fromEntries(QRIE_FUNCTIONS.map((f) => [f.name, resources[fnId(f.name)].Properties.Timeout]));
    assert.deepEqual(timeouts, { 'inventory-generator': 900, 'policy-scanner': 900, 'event-processor': 60, 'object-scanner': 300 });
  });

  it('can drop reserved concurrency for accounts with a low concurrency quota', () => {
    const t = Template.fromStack(testApp({ context: { 'qrie:reservedConcurrency': false } }).qrie);
    for (const f of Object.values(resourcesOfType(t, 'AWS::Lambda::Function'))) {
      assert.equal(f.Properties.ReservedConcurrentExecutions, undefined);
    }
  });
});

describe('schedules', () => {
  function scheduleOf(name: string) {
    const rules = Object.values(resourcesOfType(qrie, 'AWS::Events::Rule'))
      .filter((r) => r.Properties.Targets?.some((t: any) => t.Arn?.['Fn::GetAtt']?.[0] === fnId(name)));
    assert.equal(rules.length, 1, `one rule invokes ${name}`);
    return rules[0].Properties;
  }

  it('runs the inventory weekly, Saturday 00:00 UTC, for all services', () => {
    const rule = scheduleOf('inventory-generator');
    assert.equal(rule.ScheduleExpression, 'cron(0 0 ? * SAT *)');
    assert.deepEqual(JSON.parse(rule.Targets[0].Input), { service: 'all' });
  });

  it('runs the policy scan daily at 04:00 UTC with an empty input', () => {
    const rule = scheduleOf('policy-scanner');
    assert.equal(rule.ScheduleExpression, 'cron(0 4 * * ? *)');
    assert.deepEqual(JSON.parse(rule.Targets[0].Input), {});
  });
});

describe('CloudTrail path', () => {
  const busId = logicalId(stack.eventBus);

  it('has a named bus that only the onboarded accounts may put events on', () => {
    qrie.hasResourceProperties('AWS::Events::EventBus', { Name: EVENT_BUS_NAME });
    const policies = Object.values(resourcesOfType(qrie, 'AWS::Events::EventBusPolicy'));
    assert.equal(policies.length, 1);
    assert.deepEqual(policies[0].Properties.Statement.Principal, {
      AWS: ['arn:aws:iam::111111111111:root', 'arn:aws:iam::222222222222:root'],
    });
    assert.equal(policies[0].Properties.Statement.Action, 'events:PutEvents');
    assert.deepEqual(policies[0].Properties.Statement.Resource, { 'Fn::GetAtt': [busId, 'Arn'] });
  });

  it('can open the bus to one AWS Organization instead, by PrincipalOrgID', () => {
    const t = Template.fromStack(testApp({ context: { 'qrie:accounts': [], 'qrie:organizationId': 'o-abc123def4' } }).qrie);
    const policies = Object.values(resourcesOfType(t, 'AWS::Events::EventBusPolicy'));
    assert.equal(policies.length, 1);
    assert.deepEqual(policies[0].Properties.Statement.Condition, { StringEquals: { 'aws:PrincipalOrgID': 'o-abc123def4' } });
  });

  it('accepts the account list as a comma-separated -c value', () => {
    const t = Template.fromStack(testApp({ context: { 'qrie:accounts': '333333333333, 444444444444' } }).qrie);
    t.hasResourceProperties('AWS::Events::EventBusPolicy', {
      Statement: { Principal: { AWS: ['arn:aws:iam::333333333333:root', 'arn:aws:iam::444444444444:root'] } },
    });
  });

  it('has no bus policy at all without accounts or organization, and rejects malformed ids', () => {
    const t = Template.fromStack(testApp({ context: { 'qrie:accounts': [] } }).qrie);
    t.resourceCountIs('AWS::Events::EventBusPolicy', 0);
    assert.throws(() => testApp({ context: { 'qrie:accounts': ['12345'] } }), /12-digit/);
    assert.throws(() => testApp({ context: { 'qrie:organizationId': 'my-org' } }), /organization id/);
  });

  it('routes CloudTrail API calls of the covered sources from the bus to the queue', () => {
    const rules = Object.values(resourcesOfType(qrie, 'AWS::Events::Rule')).filter((r) => r.Properties.EventBusName);
    assert.equal(rules.length, 1);
    const p = rules[0].Properties;
    assert.deepEqual(p.EventBusName, { Ref: busId });
    assert.deepEqual(p.EventPattern['detail-type'], [CLOUDTRAIL_DETAIL_TYPE]);
    assert.deepEqual(p.EventPattern.source, coveredEventSources(CONTRACT));
    for (const s of ['aws.s3', 'aws.iam', 'aws.ec2', 'aws.rds', 'aws.cloudtrail', 'aws.kms']) {
      assert.ok(p.EventPattern.source.includes(s), s);
    }
    assert.deepEqual(p.Targets.map((t: any) => t.Arn), [{ 'Fn::GetAtt': [logicalId(stack.cloudTrailQueue), 'Arn'] }]);
  });

  it('lets only this account\'s EventBridge send to the queue', () => {
    qrie.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId(stack.cloudTrailQueue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': QRIE_ENV.account } },
        })]),
      },
    });
  });
});

describe('queues', () => {
  const queues = resourcesOfType(qrie, 'AWS::SQS::Queue');
  const dlqIds = stack.deadLetterQueues.map(logicalId);

  it('each work queue has a DLQ after 3 receives, and each DLQ is one', () => {
    const work = Object.entries(queues).filter(([id]) => !dlqIds.includes(id));
    assert.equal(work.length, 2);
    // The two work queues' DLQs and the one for undelivered EventBridge events.
    assert.equal(dlqIds.length, 3);
    for (const [, q] of work) {
      assert.equal(q.Properties.RedrivePolicy.maxReceiveCount, MAX_RECEIVE_COUNT);
      assert.equal(MAX_RECEIVE_COUNT, 3);
      assert.ok(dlqIds.includes(q.Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0]));
    }
  });

  it('are all encrypted with the qrie key and deny requests without TLS', () => {
    const policies = Object.values(resourcesOfType(qrie, 'AWS::SQS::QueuePolicy'));
    for (const [id, q] of Object.entries(queues)) {
      assert.deepEqual(q.Properties.KmsMasterKeyId, { 'Fn::GetAtt': [keyId, 'Arn'] }, id);
      const policy = policies.find((p) => p.Properties.Queues.some((r: any) => r.Ref === id));
      assert.ok(policy, `${id} has a queue policy`);
      assert.ok(policy.Properties.PolicyDocument.Statement.some((s: any) =>
        s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'), `${id} denies non-TLS`);
    }
  });

  it('have a visibility timeout of six times their consumer\'s timeout', () => {
    const q = resources[logicalId(stack.cloudTrailQueue)].Properties;
    assert.equal(q.VisibilityTimeout, 6 * 60);
    assert.equal(resources[logicalId(stack.objectScanQueue)].Properties.VisibilityTimeout, 6 * 300);
  });

  for (const [name, queue] of [['event-processor', stack.cloudTrailQueue], ['object-scanner', stack.objectScanQueue]] as const) {
    it(`feed ${name} with partial batch responses, pollers capped at its reserved concurrency`, () => {
      qrie.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: fnId(name) },
        EventSourceArn: { 'Fn::GetAtt': [logicalId(queue), 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: QRIE_FUNCTIONS.find((f) => f.name === name)!.reservedConcurrency },
      });
    });
  }
});

describe('object-scan path', () => {
  const queueId = logicalId(stack.objectScanQueue);
  const s3Statements = (type: string) =>
    Object.values(resourcesOfType(qrie, type)).flatMap((p: any) =>
      asList((p.Properties.PolicyDocument ?? p.Properties.KeyPolicy).Statement).filter(
        (st: any) => st.Principal?.Service === 's3.amazonaws.com',
      ),
    );

  it('lets S3 notifications of qrie\'s own and the onboarded accounts reach the queue, and no one else', () => {
    const statements = s3Statements('AWS::SQS::QueuePolicy');
    assert.equal(statements.length, 1);
    const [st] = statements;
    assert.equal(st.Action, 'sqs:SendMessage');
    assert.deepEqual(st.Resource, { 'Fn::GetAtt': [queueId, 'Arn'] });
    assert.deepEqual(st.Condition.StringEquals['aws:SourceAccount'], [QRIE_ENV.account, '111111111111', '222222222222']);
    assert.deepEqual(st.Condition.ArnLike, { 'aws:SourceArn': 'arn:aws:s3:::*' });
  });

  it('lets those notifications use the queue key under the same conditions', () => {
    const statements = s3Statements('AWS::KMS::Key');
    assert.equal(statements.length, 1);
    assert.deepEqual([...statements[0].Action].sort(), ['kms:Decrypt', 'kms:GenerateDataKey']);
    assert.ok(statements[0].Condition.StringEquals['aws:SourceAccount'].includes('111111111111'));
  });

  it('lets the object scanner read only the own-account buckets named in qrie:scanBuckets', () => {
    const statementsOf = (t: Template, app: any) =>
      roleStatements(t, logicalId(app.functions.get('object-scanner')!.role!));
    const none = statementsOf(qrie, stack).filter((st: any) => asList(st.Action).includes('s3:GetObject'));
    assert.equal(none.length, 0, 'no bucket is readable by default');
    const named = templates({ context: { 'qrie:scanBuckets': 'qrie-exports,qrie-uploads' } });
    const reads = statementsOf(named.qrie, named.app.qrie).filter((st: any) => asList(st.Action).includes('s3:GetObject'));
    assert.equal(reads.length, 1);
    assert.deepEqual(reads[0].Resource, ['arn:aws:s3:::qrie-exports/*', 'arn:aws:s3:::qrie-uploads/*']);
    assert.throws(() => templates({ context: { 'qrie:scanBuckets': 'Not_A_Bucket' } }), /not a bucket name/);
  });

  it('opens to an organization by SourceOrgID when one is configured', () => {
    const org = templates({ context: { 'qrie:organizationId': 'o-abcdefghij' } });
    const orgStatements = Object.values(resourcesOfType(org.qrie, 'AWS::SQS::QueuePolicy')).flatMap((p: any) =>
      asList(p.Properties.PolicyDocument.Statement).filter((st: any) => st.Principal?.Service === 's3.amazonaws.com'),
    );
    assert.ok(orgStatements.some((st: any) => st.Condition.StringEquals['aws:SourceOrgID'] === 'o-abcdefghij'));
  });
});

describe('alarms', () => {
  const alarms = Object.values(resourcesOfType(qrie, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties);
  const topicId = logicalId(stack.alarmTopic);

  it('watch the depth of every DLQ', () => {
    for (const dlq of stack.deadLetterQueues) {
      const id = logicalId(dlq);
      assert.ok(alarms.some((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible' &&
        a.Dimensions?.[0]?.Value?.['Fn::GetAtt']?.[0] === id && a.Threshold === 1), `alarm on ${id}`);
    }
  });

  it('watch every function\'s errors', () => {
    for (const fn of QRIE_FUNCTIONS) {
      assert.ok(alarms.some((a) => a.MetricName === 'Errors' && a.Namespace === 'AWS/Lambda' &&
        a.Dimensions?.[0]?.Value?.Ref === fnId(fn.name)), `errors alarm on ${fn.name}`);
    }
  });

  it('all notify the encrypted, TLS-only alarm topic', () => {
    assert.equal(alarms.length, QRIE_FUNCTIONS.length + stack.deadLetterQueues.length);
    for (const a of alarms) assert.deepEqual(a.AlarmActions, [{ Ref: topicId }]);
    qrie.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    qrie.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});

const WRITE_ACTIONS = new Set(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']);

describe('least privilege', () => {
  const tableIds = new Map([...stack.tables].map(([k, t]) => [logicalId(t), k]));

  for (const fn of QRIE_FUNCTIONS) {
    it(`${fn.name} touches only its own tables, queues, key and log group`, () => {
      const roleId = logicalId(stack.functions.get(fn.name)!.role!);
      const spec = CONTRACT.functions[fn.name];
      const own = new Set(spec?.tables ?? []);
      const statements = roleStatements(qrie, roleId);
      const ownQueue = fn.trigger === 'cloudtrail-queue' ? stack.cloudTrailQueue : fn.trigger === 'object-scan-queue' ? stack.objectScanQueue : undefined;
      const allowedRefs = new Set([keyId, ...[...tableIds].filter(([, k]) => own.has(k)).map(([id]) => id),
        ...(ownQueue ? [logicalId(ownQueue)] : []), resources[fnId(fn.name)].Properties.LoggingConfig.LogGroup.Ref]);
      if (spec?.env.includes('QRIE_OBJECT_SCAN_QUEUE_URL')) allowedRefs.add(logicalId(stack.objectScanQueue));
      if (spec?.env.includes('QRIE_FINDINGS_TOPIC_ARN')) allowedRefs.add(logicalId(stack.findingsTopic));
      for (const s of statements) {
        assert.equal(s.Effect, 'Allow');
        for (const action of asList<string>(s.Action)) assert.ok(!/^[a-z0-9-]+:\*$|^\*$/.test(action), `no service-wide action: ${action}`);
        for (const r of asList<any>(s.Resource)) {
          if (typeof r === 'string') {
            assert.equal(r, `arn:aws:iam::*:role/${CONTRACT.scanner_role_name}`, `only literal resource is the scanner role`);
            continue;
          }
          // {"Fn::GetAtt": ["Id", "Arn"]} or, for a topic, {"Ref": "Id"}
          const ref = JSON.stringify(r).match(/"(?:Ref|Fn::GetAtt)":\[?"?([A-Za-z0-9]+)/)?.[1];
          assert.ok(ref && allowedRefs.has(ref), `${fn.name} may not touch ${JSON.stringify(r)}`);
        }
      }
      // Every table the contract gives it is reachable, and a read-only one cannot be written.
      for (const key of own) {
        const id = logicalId(stack.tables.get(key)!);
        const touching = statements.filter((s) => JSON.stringify(s.Resource).includes(`"${id}"`));
        assert.ok(touching.some((s) => asList(s.Action).includes('dynamodb:Query')), `${fn.name} can read ${key}`);
        const writes = touching.flatMap((s) => asList<string>(s.Action)).filter((a) => WRITE_ACTIONS.has(a));
        if (tableAccess(spec!, key) === 'read') {
          assert.deepEqual(writes, [], `${fn.name} has read-only access to ${key}`);
        } else {
          assert.ok(writes.includes('dynamodb:PutItem'), `${fn.name} can write ${key}`);
        }
      }
    });
  }

  it('only functions that get QRIE_SCANNER_ROLE_NAME may assume the scanner role, by that name only', () => {
    for (const fn of QRIE_FUNCTIONS) {
      const statements = roleStatements(qrie, logicalId(stack.functions.get(fn.name)!.role!));
      const assume = statements.filter((s) => asList(s.Action).includes('sts:AssumeRole'));
      if (CONTRACT.functions[fn.name]?.env.includes('QRIE_SCANNER_ROLE_NAME')) {
        assert.deepEqual(assume.map((s) => s.Resource), [`arn:aws:iam::*:role/${CONTRACT.scanner_role_name}`]);
      } else {
        assert.equal(assume.length, 0, fn.name);
      }
    }
  });

  it('uses no AWS-managed policies', () => {
    for (const role of Object.values(resourcesOfType(qrie, 'AWS::IAM::Role'))) {
      assert.equal(role.Properties.ManagedPolicyArns, undefined);
    }
  });

  it('leaves nothing public: every Allow to "*" is conditioned on the organization', () => {
    const docs = Object.values(resources).flatMap((r: any) => {
      const p = r.Properties ?? {};
      return [p.PolicyDocument, p.KeyPolicy, p.Statement ? { Statement: p.Statement } : undefined].filter(Boolean);
    });
    const t = Template.fromStack(testApp({ context: { 'qrie:organizationId': 'o-abc123def4' } }).qrie);
    const orgDocs = Object.values(resourcesOfType(t, 'AWS::Events::EventBusPolicy')).map((r) => ({ Statement: r.Properties.Statement }));
    for (const doc of [...docs, ...orgDocs]) {
      for (const s of asList<any>(doc.Statement)) {
        const anyone = s.Principal === '*' || s.Principal?.AWS === '*';
        if (s.Effect === 'Allow' && anyone) {
          assert.ok(s.Condition?.StringEquals?.['aws:PrincipalOrgID'], `public statement ${JSON.stringify(s)}`);
        }
      }
    }
  });
});

describe('event delivery', () => {
  it('gives every EventBridge rule target a dead-letter queue, a retry policy and a depth alarm', () => {
    const rules = Object.values(resourcesOfType(qrie, 'AWS::Events::Rule'));
    assert.ok(rules.length >= 3, 'the events rule and both schedules');
    const dlqIds = new Set<string>();
    for (const rule of rules) {
      for (const target of rule.Properties.Targets) {
        const dlqArn = target.DeadLetterConfig?.Arn?.['Fn::GetAtt'];
        assert.ok(dlqArn, `target ${target.Id} has a dead-letter queue`);
        dlqIds.add(dlqArn[0]);
        assert.equal(target.RetryPolicy?.MaximumRetryAttempts, 185);
        assert.equal(target.RetryPolicy?.MaximumEventAgeInSeconds, 86400);
      }
    }
    const alarms = Object.values(resourcesOfType(qrie, 'AWS::CloudWatch::Alarm'));
    for (const id of dlqIds) {
      assert.ok(alarms.some((a) => JSON.stringify(a.Properties.Dimensions ?? []).includes(id)),
        `an alarm watches the depth of ${id}`);
    }
  });
});
