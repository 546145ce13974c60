/**
 * The four qrie Lambda functions and what only the infrastructure decides about them.
 *
 * This is the single TypeScript list of functions. Which tables a function may touch and which
 * environment variables it gets come from `contract.json` (`functions.<name>`); a function listed
 * here but not yet in the contract (the Rust side adds `event-processor` and `object-scanner` later)
 * is still deployed, with no tables and no environment, and synth warns about it.
 */
import { Duration } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/** What invokes a function; each trigger is wired in `qrie-stack.ts`. */
export type Trigger =
  /** EventBridge schedule, Saturday 00:00 UTC, input `{"service": "all"}`. */
  | 'weekly-inventory'
  /** EventBridge schedule, daily 04:00 UTC, input `{}`. */
  | 'daily-policy-scan'
  /** SQS queue fed by the CloudTrail event bus rule. */
  | 'cloudtrail-queue'
  /** SQS queue of object-scan jobs. */
  | 'object-scan-queue';

export interface QrieFunction {
  /** Kebab-case name: the package, binary, `target/lambda/<name>/bootstrap.zip` and contract key. */
  readonly name: string;
  /** Deployed Lambda name (the runbook name); the contract's `lambda_name` wins when present. */
  readonly lambdaName: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** Caps how many run at once, so a burst cannot starve the account or throttle DynamoDB. */
  readonly reservedConcurrency: number;
  readonly trigger: Trigger;
}

export const QRIE_FUNCTIONS: readonly QrieFunction[] = [
  {
    name: 'inventory-generator',
    lambdaName: 'qrie_inventory_generator',
    memorySize: 1024,
    timeout: Duration.minutes(15),
    reservedConcurrency: 2,
    trigger: 'weekly-inventory',
  },
  {
    name: 'policy-scanner',
    lambdaName: 'qrie_policy_scanner',
    memorySize: 1024,
    timeout: Duration.minutes(15),
    reservedConcurrency: 2,
    trigger: 'daily-policy-scan',
  },
  {
    name: 'event-processor',
    lambdaName: 'qrie_event_processor',
    memorySize: 512,
    timeout: Duration.seconds(60),
    reservedConcurrency: 5,
    trigger: 'cloudtrail-queue',
  },
  {
    name: 'object-scanner',
    lambdaName: 'qrie_object_scanner',
    memorySize: 1024,
    timeout: Duration.minutes(5),
    reservedConcurrency: 5,
    trigger: 'object-scan-queue',
  },
];

/**
 * Values for the SDK tuning variables every function reads (the one SDK setup helper is
 * shared/src/aws.rs; the variables are read in shared/src/config.rs).
 * Kept here because they are deployment choices; their names come from the contract.
 */
export const SDK_SETTINGS: Readonly<Record<string, string>> = {
  QRIE_MAX_ATTEMPTS: '5',
  QRIE_OPERATION_TIMEOUT_SECS: '60',
  QRIE_ATTEMPT_TIMEOUT_SECS: '20',
};

/** How long function logs are kept. */
export const LOG_RETENTION = RetentionDays.THREE_MONTHS;

/** Receives before a message moves to its queue's DLQ. */
export const MAX_RECEIVE_COUNT = 3;
