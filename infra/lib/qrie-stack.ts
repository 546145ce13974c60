/**
 * The qrie stack: what runs in the qrie (security) account.
 *
 * Tables, functions and environment come from `contract.json` through `contract.ts`, and the list of
 * functions with their sizes and triggers from `functions.ts`. The pieces:
 * - one customer-managed KMS key for tables, queues and the alarm topic;
 * - the DynamoDB tables, on demand, with point-in-time recovery;
 * - the four Lambda functions (provided.al2023, arm64), each with its own role, log group, tables;
 * - the schedules: weekly inventory, daily policy scan;
 * - the CloudTrail path: event bus open only to onboarded accounts or one organization, rule,
 *   queue with DLQ, event processor with partial batch responses;
 * - the object-scan path: queue with DLQ, object scanner with partial batch responses;
 * - alarms on every DLQ and every function's errors, to an encrypted SNS topic;
 * - the findings topic (encrypted with the qrie key, TLS only): new and re-opened findings from the
 *   event processor and the scanner's daily digest, from the severity in context
 *   `qrie:notifyMinSeverity` (default high); only those two functions may publish to it;
 * - with context `qrie:securityHub` true, AWS Security Hub imports: the scanner and the event
 *   processor get `QRIE_SECURITY_HUB=enabled` and may assume the scanner role, through which they
 *   import each account's findings in that account (Security Hub takes a custom integration's
 *   findings only from their own account; the onboarding template's EnableSecurityHubImports
 *   grants the role `securityhub:BatchImportFindings`).
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations, Annotations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { resolveCode } from './code';
import { CLOUDTRAIL_DETAIL_TYPE, CONTRACT, type Contract, type KeySpec, type TableSpec, coveredEventSources, tableAccess } from './contract';
import { LOG_RETENTION, MAX_RECEIVE_COUNT, QRIE_FUNCTIONS, type QrieFunction, SDK_SETTINGS } from './functions';

/** The bus customer accounts put CloudTrail events on; fixed so customers can write its ARN. */
export const EVENT_BUS_NAME = 'qrie-cloudtrail';

/** The env var that carries the scanner role name; a function that has it may assume that role. */
const SCANNER_ROLE_ENV = 'QRIE_SCANNER_ROLE_NAME';

/** The env var a function gets to enqueue object-scan jobs (and with it, send permission). */
export const OBJECT_SCAN_QUEUE_ENV = 'QRIE_OBJECT_SCAN_QUEUE_URL';

/** The env var that carries the findings topic's ARN; a function that has it may publish there. */
export const FINDINGS_TOPIC_ENV = 'QRIE_FINDINGS_TOPIC_ARN';

/** The env var that carries the lowest severity notified. */
export const NOTIFY_MIN_SEVERITY_ENV = 'QRIE_NOTIFY_MIN_SEVERITY';

/** The env var that turns Security Hub imports on (`enabled`) or off (`disabled`). */
export const SECURITY_HUB_ENV = 'QRIE_SECURITY_HUB';

/** The severities qrie knows, most serious first (`Severity` in shared/src/model.rs). */
export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'informational'] as const;

export interface QrieStackProps extends StackProps {
  /** Defaults to the repository's contract. Tests pass edited copies. */
  readonly contract?: Contract;
  /** Account ids allowed to put events on the bus. Default: context `qrie:accounts`. */
  readonly accounts?: readonly string[];
  /** An AWS Organization whose accounts may put events on the bus. Default: context `qrie:organizationId`. */
  readonly organizationId?: string;
}

export function pascal(kebabOrSnake: string): string {
  return kebabOrSnake
    .split(/[-_]/)
    .filter((p) => p !== '')
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
}

function attribute(key: KeySpec): dynamodb.Attribute {
  const types: Record<KeySpec['type'], dynamodb.AttributeType> = {
    S: dynamodb.AttributeType.STRING,
    N: dynamodb.AttributeType.NUMBER,
    B: dynamodb.AttributeType.BINARY,
  };
  return { name: key.name, type: types[key.type] };
}

/** `qrie:accounts` may be a JSON list (cdk.json) or a comma-separated string (`-c`). */
function contextList(scope: Construct, key: string): string[] {
  const raw = scope.node.tryGetContext(key) as unknown;
  if (raw === undefined || raw === null || raw === '') return [];
  if (Array.isArray(raw)) return raw.map(String);
  const text = String(raw).trim();
  if (text.startsWith('[')) return (JSON.parse(text) as unknown[]).map(String);
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** A boolean context value (true/false, or the strings "true"/"false"); anything else fails synth naming the key. */
export function contextFlag(scope: Construct, key: string): boolean {
  const raw = scope.node.tryGetContext(key) as unknown;
  if (raw === undefined || raw === null || raw === '' || raw === false || raw === 'false') return false;
  if (raw === true || raw === 'true') return true;
  throw new Error(`context ${key} must be true or false, got ${JSON.stringify(raw)}`);
}

/** A severity from context (any case), or `fallback`; anything else fails synth naming the key. */
function contextSeverity(scope: Construct, key: string, fallback: string): string {
  const raw = scope.node.tryGetContext(key) as unknown;
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = String(raw).trim().toLowerCase();
  if (!(SEVERITIES as readonly string[]).includes(value)) {
    throw new Error(`context ${key} must be one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export class QrieStack extends Stack {
  readonly key: kms.Key;
  readonly tables = new Map<string, dynamodb.Table>();
  readonly functions = new Map<string, lambda.Function>();
  readonly eventBus: events.EventBus;
  readonly cloudTrailQueue: sqs.Queue;
  readonly objectScanQueue: sqs.Queue;
  readonly deadLetterQueues: sqs.Queue[] = [];
  /** Where EventBridge puts an event none of a rule's retries could deliver (every rule target). */
  readonly eventDeliveryDlq: sqs.Queue;
  readonly alarmTopic: sns.Topic;
  readonly findingsTopic: sns.Topic;
  /** The lowest severity notified on the findings topic (context `qrie:notifyMinSeverity`). */
  readonly notifyMinSeverity: string;
  /** Findings are imported into AWS Security Hub (context `qrie:securityHub`). */
  readonly securityHub: boolean;

  constructor(scope: Construct, id: string, props: QrieStackProps = {}) {
    super(scope, id, props);
    const contract = props.contract ?? CONTRACT;

    this.key = new kms.Key(this, 'Key', {
      alias: 'alias/qrie',
      description: 'qrie: encrypts the tables, queues, alarm topic and findings topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch publishes alarms to the encrypted topic. (EventBridge's use of the key for the
    // encrypted queue is granted by the SqsQueue target, limited to this account by the
    // @aws-cdk/aws-events:eventsTargetQueueSameAccount flag in cdk.json.)
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );

    this.eventDeliveryDlq = this.eventDeliveryDeadLetterQueue();

    for (const [key, spec] of Object.entries(contract.tables)) {
      this.tables.set(key, this.table(key, spec));
    }

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'qrie alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    // New and re-opened findings, and the daily digest: subscribe the security team (email,
    // a chat integration, a SIEM's queue), filtering on the severity, policy_id or account
    // message attributes if need be.
    this.findingsTopic = new sns.Topic(this, 'FindingsTopic', {
      displayName: 'qrie findings',
      masterKey: this.key,
      enforceSSL: true,
    });
    this.notifyMinSeverity = contextSeverity(this, 'qrie:notifyMinSeverity', 'high');
    this.securityHub = contextFlag(this, 'qrie:securityHub');

    const eventProcessor = QRIE_FUNCTIONS.find((f) => f.trigger === 'cloudtrail-queue');
    const objectScanner = QRIE_FUNCTIONS.find((f) => f.trigger === 'object-scan-queue');
    this.cloudTrailQueue = this.queueWithDlq('CloudTrailEvents', eventProcessor?.timeout ?? Duration.minutes(1));
    this.objectScanQueue = this.queueWithDlq('ObjectScanJobs', objectScanner?.timeout ?? Duration.minutes(5));
    this.allowS3Notifications(this.objectScanQueue, props);

    this.eventBus = this.cloudTrailBus(contract, props);

    const code = resolveCode(this, QRIE_FUNCTIONS.map((f) => f.name));
    for (const fn of QRIE_FUNCTIONS) {
      const resolved = code.get(fn.name)!;
      const created = this.lambdaFunction(contract, fn, resolved.code);
      if (resolved.placeholder) {
        Annotations.of(created).addWarningV2(
          'qrie:placeholder-code',
          resolved.missing
            ? `${resolved.expectedZip} not found: synthesised with placeholder code. Run make build before deploying.`
            : `synthesised with placeholder code because other functions' zips are missing (all are real or none). Run make build before deploying.`,
        );
      }
      this.functions.set(fn.name, created);
      if (fn.trigger === 'object-scan-queue') this.allowOwnBucketScans(created);
      this.trigger(fn, created);
      this.alarm(`${pascal(fn.name)}Errors`, created.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        `${created.functionName} reported errors`);
    }
    for (const dlq of this.deadLetterQueues) {
      this.alarm(`${dlq.node.id}Depth`,
        dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
        `Messages are waiting in the dead-letter queue ${dlq.node.id}`);
    }

    new CfnOutput(this, 'EventBusArn', {
      value: this.eventBus.eventBusArn,
      description: 'QrieEventBusArn parameter of the customer onboarding stack',
    });
    new CfnOutput(this, 'FindingsTopicArn', {
      value: this.findingsTopic.topicArn,
      description: `New and re-opened findings from ${this.notifyMinSeverity} up, and the daily digest`,
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn, description: 'Subscribe on-call to this topic' });
    new CfnOutput(this, 'ObjectScanQueueUrl', { value: this.objectScanQueue.queueUrl });
  }

  private table(key: string, spec: TableSpec): dynamodb.Table {
    const table = new dynamodb.Table(this, `${pascal(key)}Table`, {
      tableName: spec.default_name,
      partitionKey: attribute(spec.partition_key),
      sortKey: spec.sort_key ? attribute(spec.sort_key) : undefined,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      timeToLiveAttribute: spec.ttl_attribute ?? undefined,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const gsi of spec.global_secondary_indexes) {
      table.addGlobalSecondaryIndex({
        indexName: gsi.name,
        partitionKey: attribute(gsi.partition_key),
        sortKey: gsi.sort_key ? attribute(gsi.sort_key) : undefined,
        projectionType: dynamodb.ProjectionType[gsi.projection],
        nonKeyAttributes: gsi.projection === 'INCLUDE' ? [...(gsi.non_key_attributes ?? [])] : undefined,
      });
    }
    return table;
  }

  private queueWithDlq(id: string, consumerTimeout: Duration): sqs.Queue {
    const dlq = new sqs.Queue(this, `${id}Dlq`, {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.deadLetterQueues.push(dlq);
    return new sqs.Queue(this, `${id}Queue`, {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      // AWS's advice for Lambda consumers: six times the function timeout.
      visibilityTimeout: Duration.seconds(consumerTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
  }

  /**
   * Buckets in qrie's own account that the object scanner may read and enroll: only those named
   * in `qrie:scanBuckets` (customer buckets are read through the customer's scanner role).
   */
  private allowOwnBucketScans(fn: lambda.Function): void {
    const buckets = contextList(this, 'qrie:scanBuckets');
    for (const bucket of buckets) {
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
        throw new Error(`qrie:scanBuckets: "${bucket}" is not a bucket name`);
      }
    }
    if (buckets.length === 0) return;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadOwnBucketsForObjectScans',
        actions: ['s3:ListBucket', 's3:GetBucketLocation', 's3:GetBucketNotification', 's3:PutBucketNotification'],
        resources: buckets.map((b) => `arn:aws:s3:::${b}`),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadOwnObjectsForObjectScans',
        actions: ['s3:GetObject'],
        resources: buckets.map((b) => `arn:aws:s3:::${b}/*`),
      }),
    );
    for (const bucket of buckets) {
      Validations.of(fn.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:aws:s3:::${bucket}/*]`,
        reason: `Scans the objects of ${bucket}, a bucket the operator listed in qrie:scanBuckets (GetObject only)`,
      });
    }
  }

  /** The onboarded accounts and organization, from props or context, validated. */
  private onboarded(props: QrieStackProps): { accounts: string[]; organizationId: string } {
    const accounts = props.accounts ? [...props.accounts] : contextList(this, 'qrie:accounts');
    const organizationId = props.organizationId ?? ((this.node.tryGetContext('qrie:organizationId') as string) || '');
    for (const account of accounts) {
      if (!/^\d{12}$/.test(account)) throw new Error(`qrie:accounts: "${account}" is not a 12-digit account id`);
    }
    if (organizationId && !/^o-[a-z0-9]{10,32}$/.test(organizationId)) {
      throw new Error(`qrie:organizationId: "${organizationId}" is not an organization id (o-...)`);
    }
    return { accounts, organizationId };
  }

  /**
   * Continuous object scanning: S3 ObjectCreated notifications of enrolled buckets, in qrie's own
   * account or an onboarded one (or the organization), may be sent to the object-scan queue and
   * use the qrie key that encrypts it. Nothing else may.
   */
  private allowS3Notifications(queue: sqs.Queue, props: QrieStackProps): void {
    const { accounts, organizationId } = this.onboarded(props);
    const s3 = new iam.ServicePrincipal('s3.amazonaws.com');
    const scopes: Array<[string, Record<string, unknown>]> = [
      ['Accounts', { StringEquals: { 'aws:SourceAccount': [this.account, ...accounts] } }],
    ];
    if (organizationId) {
      scopes.push(['Organization', { StringEquals: { 'aws:SourceOrgID': organizationId } }]);
    }
    for (const [scope, condition] of scopes) {
      const conditions = { ...condition, ArnLike: { 'aws:SourceArn': 'arn:aws:s3:::*' } };
      queue.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `S3NotificationsFrom${scope}`,
          principals: [s3],
          actions: ['sqs:SendMessage'],
          resources: [queue.queueArn],
          conditions,
        }),
      );
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `S3NotificationsFrom${scope}UseQueueKey`,
          principals: [s3],
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: ['*'],
          conditions,
        }),
      );
    }
  }

  private cloudTrailBus(contract: Contract, props: QrieStackProps): events.EventBus {
    const bus = new events.EventBus(this, 'CloudTrailBus', { eventBusName: EVENT_BUS_NAME });
    const { accounts, organizationId } = this.onboarded(props);
    if (accounts.length > 0) {
      bus.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OnboardedAccountsPutEvents',
          principals: accounts.map((a) => new iam.AccountPrincipal(a)),
          actions: ['events:PutEvents'],
          resources: [bus.eventBusArn],
        }),
      );
    }
    if (organizationId) {
      bus.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OrganizationPutEvents',
          principals: [new iam.AnyPrincipal()],
          actions: ['events:PutEvents'],
          resources: [bus.eventBusArn],
          conditions: { StringEquals: { 'aws:PrincipalOrgID': organizationId } },
        }),
      );
    }
    if (accounts.length === 0 && !organizationId) {
      Annotations.of(bus).addWarningV2(
        'qrie:no-onboarded-accounts',
        'No qrie:accounts or qrie:organizationId in context: no customer account can put events on the bus.',
      );
    }
    new events.Rule(this, 'CloudTrailRule', {
      eventBus: bus,
      description: 'Mutating management API calls of the covered services, to the event processor queue',
      eventPattern: {
        source: coveredEventSources(contract),
        detailType: [CLOUDTRAIL_DETAIL_TYPE],
        detail: { readOnly: [false] },
      },
      targets: [new targets.SqsQueue(this.cloudTrailQueue, this.deliveryRetries())],
    });
    return bus;
  }

  /**
   * Gives each environment variable the contract lists for a function its value, together with the
   * permission that value implies. A name with no known value fails synth: that is the sign the Rust
   * side added a variable that needs infrastructure, and this is the place to add it.
   */
  private functionEnvironment(contract: Contract, spec: QrieFunction, role: iam.IRole): Record<string, string> {
    const names = contract.functions[spec.name]?.env ?? [];
    const values: Record<string, { value: string; grant?: () => void }> = {};
    for (const [key, table] of Object.entries(contract.tables)) {
      values[table.env] = { value: this.tables.get(key)!.tableName };
    }
    for (const [name, value] of Object.entries(SDK_SETTINGS)) values[name] = { value };
    values[SCANNER_ROLE_ENV] = {
      value: contract.scanner_role_name,
      grant: () => {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            sid: 'AssumeScannerRoleInCustomerAccounts',
            actions: ['sts:AssumeRole'],
            resources: [`arn:${this.partition}:iam::*:role/${contract.scanner_role_name}`],
          }),
        );
        // cdk-nag names the finding after the rendered ARN: a literal partition or <AWS::Partition>.
        const partition = this.resolve(this.partition);
        const rendered = typeof partition === 'string' ? partition : '<AWS::Partition>';
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:${rendered}:iam::*:role/${contract.scanner_role_name}]`,
          reason: 'Assumes the scanner role in whichever customer account is onboarded (the accounts table); ' +
            'only that role name, and each such role trusts qrie only with its ExternalId',
        });
      },
    };
    values[OBJECT_SCAN_QUEUE_ENV] = {
      value: this.objectScanQueue.queueUrl,
      grant: () => {
        this.objectScanQueue.grantSendMessages(role);
        this.acknowledgeKeyWildcards(role);
      },
    };
    values[FINDINGS_TOPIC_ENV] = {
      value: this.findingsTopic.topicArn,
      grant: () => {
        // sns:Publish on this topic, and the key's data-key use that publishing to it needs.
        this.findingsTopic.grantPublish(role);
        this.acknowledgeKeyWildcards(role);
      },
    };
    values[NOTIFY_MIN_SEVERITY_ENV] = { value: this.notifyMinSeverity };
    values[SECURITY_HUB_ENV] = {
      value: this.securityHub ? 'enabled' : 'disabled',
      // The imports go through the scanner role of each customer account: a function that imports
      // may assume it (and is told its name) even if it reads nothing there itself.
      grant: () => {
        if (this.securityHub && !names.includes(SCANNER_ROLE_ENV)) extra.push(SCANNER_ROLE_ENV);
      },
    };
    // Object-scanner tuning: a unit is at most 512 MiB (a 5-minute function at >= 2 MB/s of
    // margin), larger objects are skipped, and the work queue dead-letters after MAX_RECEIVE_COUNT.
    values.QRIE_OBJECT_MAX_BYTES = { value: String(5 * 1024 ** 3) };
    values.QRIE_OBJECT_BYTES_PER_MESSAGE = { value: String(512 * 1024 ** 2) };
    values.QRIE_OBJECT_SCAN_MAX_RECEIVES = { value: String(MAX_RECEIVE_COUNT) };
    const environment: Record<string, string> = {};
    const extra: string[] = [];
    for (const name of names) {
      const known = values[name];
      if (!known) {
        throw new Error(
          `contract.json: functions.${spec.name}.env lists ${name}, which infra/lib/qrie-stack.ts has no value for; ` +
            'add it to QrieStack.functionEnvironment (or SDK_SETTINGS in infra/lib/functions.ts)',
        );
      }
      environment[name] = known.value;
      known.grant?.();
    }
    // Variables a value above implies (the scanner role for Security Hub imports).
    for (const name of extra) {
      environment[name] = values[name].value;
      values[name].grant?.();
    }
    return environment;
  }

  private lambdaFunction(contract: Contract, spec: QrieFunction, code: lambda.Code): lambda.Function {
    const id = pascal(spec.name);
    const fromContract = contract.functions[spec.name];
    if (!fromContract) {
      Annotations.of(this).addWarningV2(
        `qrie:not-in-contract:${spec.name}`,
        `${spec.name} is not in contract.json yet: deployed with no tables and no environment`,
      );
    }
    const functionName = fromContract?.lambda_name ?? spec.lambdaName;
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // An explicit role instead of the AWSLambdaBasicExecutionRole managed policy: logs only to its group.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${functionName}: its own tables, queues and key, nothing else`,
    });
    logGroup.grantWrite(role);

    const reserve = this.reservesConcurrency();
    const fn = new lambda.Function(this, `${id}Function`, {
      functionName,
      description: `qrie ${spec.name}`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code,
      memorySize: spec.memorySize,
      timeout: spec.timeout,
      reservedConcurrentExecutions: reserve ? spec.reservedConcurrency : undefined,
      environment: this.functionEnvironment(contract, spec, role),
      role,
      logGroup,
    });
    for (const key of fromContract?.tables ?? []) {
      const table = this.tables.get(key)!;
      if (tableAccess(fromContract!, key) === 'read') {
        table.grantReadData(role);
      } else {
        table.grantReadWriteData(role);
        this.acknowledgeKeyWildcards(role);
      }
      if (contract.tables[key].global_secondary_indexes.length > 0) {
        const logicalId = this.resolve((table.node.defaultChild as dynamodb.CfnTable).logicalId) as string;
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/index/*]`,
          reason: `Queries the indexes of its own table ${contract.tables[key].default_name} only (the table's index/* ARNs)`,
        });
      }
    }
    return fn;
  }

  /** Context `qrie:reservedConcurrency=false` drops reservations (new accounts' quota of 10). */
  private reservesConcurrency(): boolean {
    const value = this.node.tryGetContext('qrie:reservedConcurrency') as unknown;
    return value !== false && value !== 'false';
  }

  private readonly keyWildcardsAcknowledged = new Set<iam.IRole>();

  /** Encrypting with the qrie key (table writes, sending to a queue) makes CDK grant two wildcard actions. */
  private acknowledgeKeyWildcards(role: iam.IRole): void {
    if (this.keyWildcardsAcknowledged.has(role)) return;
    this.keyWildcardsAcknowledged.add(role);
    for (const action of ['kms:ReEncrypt*', 'kms:GenerateDataKey*']) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason: `${action} comes from CDK's grant on the one qrie key, whose ARN is the only resource: ` +
          'the wildcard covers the variants of a data-key operation, not other keys',
      });
    }
  }

  private trigger(spec: QrieFunction, fn: lambda.Function): void {
    // SQS pollers beyond the reserved concurrency would be throttled, and each throttled receive
    // counts toward maxReceiveCount: cap the pollers at the reservation so only real failures reach the DLQ.
    const maxConcurrency = this.reservesConcurrency() ? Math.max(2, spec.reservedConcurrency) : undefined;
    switch (spec.trigger) {
      case 'weekly-inventory':
        new events.Rule(this, 'WeeklyInventorySchedule', {
          description: 'Full inventory of every onboarded account, Saturdays 00:00 UTC',
          schedule: events.Schedule.cron({ minute: '0', hour: '0', weekDay: 'SAT' }),
          targets: [new targets.LambdaFunction(fn, {
            event: events.RuleTargetInput.fromObject({ service: 'all' }),
            ...this.deliveryRetries(),
          })],
        });
        return;
      case 'daily-policy-scan':
        new events.Rule(this, 'DailyPolicyScanSchedule', {
          description: 'Evaluate every policy against the inventory, daily 04:00 UTC',
          schedule: events.Schedule.cron({ minute: '0', hour: '4' }),
          targets: [new targets.LambdaFunction(fn, { event: events.RuleTargetInput.fromObject({}), ...this.deliveryRetries() })],
        });
        return;
      case 'cloudtrail-queue':
        fn.addEventSource(new SqsEventSource(this.cloudTrailQueue, {
          batchSize: 10,
          maxBatchingWindow: Duration.seconds(5),
          maxConcurrency,
          reportBatchItemFailures: true,
        }));
        return;
      case 'object-scan-queue':
        fn.addEventSource(new SqsEventSource(this.objectScanQueue, {
          batchSize: 5,
          maxConcurrency,
          reportBatchItemFailures: true,
        }));
        return;
    }
  }

  /**
   * Issue 16, "no event lost on the way in": one dead-letter queue for every EventBridge rule
   * target (the events queue, the schedules), with its depth alarm through `deadLetterQueues`.
   * EventBridge writes to the KMS-encrypted queue, so the key lets it (this account's rules only).
   */
  private eventDeliveryDeadLetterQueue(): sqs.Queue {
    const dlq = new sqs.Queue(this, 'EventDeliveryDlq', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgeWritesUndeliveredEvents',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    Validations.of(dlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the EventBridge rule targets',
    });
    this.deadLetterQueues.push(dlq);
    return dlq;
  }

  /** Retry policy and dead-letter queue of every EventBridge rule target. */
  private deliveryRetries(): { deadLetterQueue: sqs.IQueue; retryAttempts: number; maxEventAge: Duration } {
    return { deadLetterQueue: this.eventDeliveryDlq, retryAttempts: 185, maxEventAge: Duration.hours(24) };
  }

  private alarm(id: string, metric: cloudwatch.IMetric, description: string): void {
    const alarm = new cloudwatch.Alarm(this, `${id}Alarm`, {
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
  }
}
