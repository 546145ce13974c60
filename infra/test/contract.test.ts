/**
 * The synthesized qrie stack against shared/schema/contract.json: tables (names, keys, GSIs) and
 * each function's environment variable names must be exactly what the contract says, and an edit
 * to the contract must flow into the stack.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Template } from 'aws-cdk-lib/assertions';
import { CONTRACT, type Contract, type KeySpec, type TableSpec, validateContract } from '../lib/contract';
import { QRIE_FUNCTIONS } from '../lib/functions';
import { editableContract, logicalId, resourcesOfType, roleStatements, templates, asList } from './support';

function keySchema(pk: KeySpec, sk?: KeySpec | null) {
  return [{ AttributeName: pk.name, KeyType: 'HASH' }, ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' }] : [])];
}

/** The table as CloudFormation must describe it, built from the contract alone. */
function expectedTable(spec: TableSpec) {
  const keys = [spec.partition_key, spec.sort_key, ...spec.global_secondary_indexes.flatMap((g) => [g.partition_key, g.sort_key])]
    .filter((k): k is KeySpec => !!k);
  const attributes = new Map(keys.map((k) => [k.name, k.type]));
  return {
    TableName: spec.default_name,
    KeySchema: keySchema(spec.partition_key, spec.sort_key),
    AttributeDefinitions: [...attributes].sort(([a], [b]) => a.localeCompare(b)).map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    GlobalSecondaryIndexes: [...spec.global_secondary_indexes]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((g) => ({
        IndexName: g.name,
        KeySchema: keySchema(g.partition_key, g.sort_key),
        Projection: { ProjectionType: g.projection, ...(g.projection === 'INCLUDE' ? { NonKeyAttributes: [...(g.non_key_attributes ?? [])] } : {}) },
      })),
  };
}

/** The same shape read back from the template, ordered the same way. */
function actualTables(template: Template) {
  return Object.values(resourcesOfType(template, 'AWS::DynamoDB::Table')).map(({ Properties: p }) => ({
    TableName: p.TableName,
    KeySchema: p.KeySchema,
    AttributeDefinitions: [...p.AttributeDefinitions].sort((a: any, b: any) => a.AttributeName.localeCompare(b.AttributeName)),
    GlobalSecondaryIndexes: [...(p.GlobalSecondaryIndexes ?? [])]
      .sort((a: any, b: any) => a.IndexName.localeCompare(b.IndexName))
      .map((g: any) => ({ IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection })),
  }));
}

function assertTablesMatch(template: Template, contract: Contract) {
  const expected = Object.values(contract.tables).map(expectedTable).sort((a, b) => a.TableName.localeCompare(b.TableName));
  const actual = actualTables(template).sort((a, b) => a.TableName.localeCompare(b.TableName));
  assert.deepEqual(actual, expected);
}

/** Environment variable names of each deployed function, by Lambda name. */
function envNames(template: Template): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { Properties: p } of Object.values(resourcesOfType(template, 'AWS::Lambda::Function'))) {
    out.set(p.FunctionName, Object.keys(p.Environment?.Variables ?? {}).sort());
  }
  return out;
}

function assertEnvMatches(template: Template, contract: Contract) {
  const actual = envNames(template);
  for (const fn of QRIE_FUNCTIONS) {
    const spec = contract.functions[fn.name];
    const name = spec?.lambda_name ?? fn.lambdaName;
    assert.ok(actual.has(name), `function ${name} is deployed`);
    assert.deepEqual(actual.get(name), [...(spec?.env ?? [])].sort(), `environment of ${name}`);
  }
}

describe('the qrie stack follows contract.json', () => {
  const { qrie } = templates();

  it('defines exactly the contract tables, with their keys and GSIs', () => {
    assertTablesMatch(qrie, CONTRACT);
  });

  it('gives each function exactly the environment variable names the contract lists', () => {
    assertEnvMatches(qrie, CONTRACT);
  });

  it('deploys every function of the TypeScript list, named as the contract says when it lists it', () => {
    const names = [...envNames(qrie).keys()].sort();
    const expected = QRIE_FUNCTIONS.map((f) => CONTRACT.functions[f.name]?.lambda_name ?? f.lambdaName).sort();
    assert.deepEqual(names, expected);
    for (const key of Object.keys(CONTRACT.functions)) {
      assert.ok(QRIE_FUNCTIONS.some((f) => f.name === key), `contract function ${key} is in infra/lib/functions.ts`);
    }
  });

  it('points table env vars at the tables the contract pairs them with', () => {
    const { app } = templates();
    for (const [fnName, spec] of Object.entries(CONTRACT.functions)) {
      const fn = app.qrie.functions.get(fnName)!;
      const vars = qrie.toJSON().Resources[logicalId(fn)].Properties.Environment.Variables;
      for (const [key, table] of Object.entries(CONTRACT.tables)) {
        if (spec.env.includes(table.env)) {
          assert.deepEqual(vars[table.env], { Ref: logicalId(app.qrie.tables.get(key)!) }, `${fnName} ${table.env}`);
        }
      }
    }
  });
});

describe('an edited contract flows into the stacks', () => {
  const contract = editableContract();
  contract.tables.object_scan_jobs = {
    env: 'QRIE_OBJECT_SCAN_JOBS_TABLE',
    default_name: 'qrie_object_scan_jobs',
    partition_key: { name: 'JobId', type: 'S' },
    sort_key: { name: 'ObjectKey', type: 'S' },
    ttl_attribute: 'ExpiresAt',
    global_secondary_indexes: [
      { name: 'ByAccount', partition_key: { name: 'AccountId', type: 'S' }, sort_key: { name: 'CreatedAt', type: 'N' }, projection: 'KEYS_ONLY' },
      { name: 'ByState', partition_key: { name: 'State', type: 'S' }, projection: 'INCLUDE', non_key_attributes: ['JobId'] },
    ],
  };
  contract.functions['event-processor'] = {
    lambda_name: 'qrie_event_processor',
    tables: ['resources', 'accounts'],
    env: ['QRIE_RESOURCES_TABLE', 'QRIE_ACCOUNTS_TABLE', 'QRIE_SCANNER_ROLE_NAME', 'QRIE_OBJECT_SCAN_QUEUE_URL'],
  };
  contract.functions['object-scanner'] = {
    lambda_name: 'qrie_object_scanner',
    tables: ['object_scan_jobs'],
    table_access: { object_scan_jobs: 'read_write' },
    env: ['QRIE_OBJECT_SCAN_JOBS_TABLE', 'QRIE_MAX_ATTEMPTS'],
  };
  contract.collector_permissions.ec2 = ['ec2:DescribeInstances', 'ec2:DescribeSecurityGroups'];
  const edited = validateContract(contract);
  const { qrie, onboarding, app } = templates({ contract: edited });

  it('adds the new table with its keys, GSIs and TTL', () => {
    assertTablesMatch(qrie, edited);
    qrie.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'qrie_object_scan_jobs',
      TimeToLiveSpecification: { AttributeName: 'ExpiresAt', Enabled: true },
    });
  });

  it('gives the newly listed functions their contract environment', () => {
    assertEnvMatches(qrie, edited);
  });

  it('grants what the new variables and tables imply, and nothing for what they do not', () => {
    const ep = roleStatements(qrie, logicalId(app.qrie.functions.get('event-processor')!.role!));
    assert.ok(ep.some((s) => s.Action === 'sts:AssumeRole'), 'event processor may assume the scanner role');
    assert.ok(ep.some((s) => asList(s.Action).includes('sqs:SendMessage')), 'event processor may enqueue object scans');
    const os = roleStatements(qrie, logicalId(app.qrie.functions.get('object-scanner')!.role!));
    assert.ok(!os.some((s) => s.Action === 'sts:AssumeRole'), 'object scanner has no QRIE_SCANNER_ROLE_NAME, so no AssumeRole');
    const jobs = logicalId(app.qrie.tables.get('object_scan_jobs')!);
    assert.ok(os.some((s) => JSON.stringify(s.Resource).includes(jobs)), 'object scanner may use its table');
    assert.ok(!ep.some((s) => JSON.stringify(s.Resource).includes(jobs)), 'event processor may not use the jobs table');
  });

  it('adds new collector permissions to the scanner role', () => {
    const actions = Object.values(edited.collector_permissions).flat().sort();
    const role = Object.values(resourcesOfType(onboarding, 'AWS::IAM::Role')).find((r) => r.Properties.RoleName === edited.scanner_role_name)!;
    assert.deepEqual([...role.Properties.Policies[0].PolicyDocument.Statement[0].Action].sort(), actions);
  });

  it('fails synth, naming the variable, when the contract lists one the stack cannot fill', () => {
    const c = editableContract();
    c.functions['policy-scanner'].env.push('QRIE_SOMETHING_NEW');
    assert.throws(() => templates({ contract: validateContract(c) }), /QRIE_SOMETHING_NEW/);
  });

  it('rejects a contract whose function names an unknown table', () => {
    const c = editableContract();
    c.functions['policy-scanner'].tables.push('nope');
    assert.throws(() => validateContract(c), /functions\.policy-scanner\.tables names unknown table "nope"/);
  });

  it('rejects table_access for a table the function does not list, or an unknown level', () => {
    const c = editableContract();
    c.functions['policy-scanner'].table_access = { accounts: 'read', resources: 'read', findings: 'read_write', policies: 'read', nope: 'read' };
    assert.throws(() => validateContract(c), /table_access names "nope"/);
    c.functions['policy-scanner'].table_access = { findings: 'write_only' };
    assert.throws(() => validateContract(c), /table_access\.findings must be read or read_write/);
  });

  it('rejects a key type DynamoDB does not have', () => {
    const c = editableContract();
    c.tables.resources.partition_key = { name: 'X', type: 'STRING' };
    assert.throws(() => validateContract(c), /tables\.resources\.partition_key/);
  });

  it('forwards exactly the event sources the contract lists, so a new one flows into both rules', () => {
    const c = editableContract();
    c.event_sources = [...c.event_sources, 'lambda.amazonaws.com'];
    const { qrie, onboarding } = templates({ contract: validateContract(c) });
    for (const t of [qrie, onboarding]) {
      const sources = Object.values(resourcesOfType(t, 'AWS::Events::Rule'))
        .filter((r: any) => r.Properties.EventPattern?.source)
        .map((r: any) => r.Properties.EventPattern.source);
      assert.ok(sources.length > 0);
      for (const s of sources) assert.ok(s.includes('aws.lambda'), JSON.stringify(s));
    }
  });

  it('rejects an event source that is not a CloudTrail eventSource, and a kind whose events are not forwarded', () => {
    const bad = editableContract();
    bad.event_sources = ['aws.s3'];
    assert.throws(() => validateContract(bad), /"event_sources" must be a list/);
    const unforwarded = editableContract();
    unforwarded.event_sources = unforwarded.event_sources.filter((s: string) => s !== 's3.amazonaws.com');
    assert.throws(() => validateContract(unforwarded), /resource_kinds\.AWS::S3::\w+\.events names s3:\w+, whose source s3\.amazonaws\.com is not in event_sources/);
  });

  it('rejects a kind of a service without collector permissions', () => {
    const c = editableContract();
    assert.ok(c.resource_kinds['AWS::KMS::Key'], 'the contract has the KMS key kind');
    delete c.collector_permissions.kms;
    assert.throws(() => validateContract(c), /resource_kinds\.AWS::KMS::Key\.service "kms" has no collector_permissions/);
  });
});
