/**
 * The contract between the Rust code and this CDK app.
 *
 * `shared/schema/contract.json` is written by the Rust side and kept in sync with the code by a Rust
 * test: it names the DynamoDB tables (keys, GSIs), each function's tables and environment variables,
 * the scanner role name and the API permissions each collector uses. Everything here is read from it;
 * nothing in it is repeated in TypeScript, so a table, variable or permission added there flows into
 * both stacks (and a name the stacks cannot give a value to fails synth, see `qrie-stack.ts`).
 */
import contractJson from '../../shared/schema/contract.json';

/** A key attribute: DynamoDB's scalar types only. */
export interface KeySpec {
  readonly name: string;
  readonly type: 'S' | 'N' | 'B';
}

export interface IndexSpec {
  readonly name: string;
  readonly partition_key: KeySpec;
  readonly sort_key?: KeySpec | null;
  /** `ALL`, `KEYS_ONLY`, or `INCLUDE` together with `non_key_attributes`. */
  readonly projection: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
  readonly non_key_attributes?: readonly string[];
}

export interface TableSpec {
  /** The environment variable that carries the table's name to a function. */
  readonly env: string;
  readonly default_name: string;
  readonly partition_key: KeySpec;
  readonly sort_key: KeySpec | null;
  readonly global_secondary_indexes: readonly IndexSpec[];
  /** Optional: an attribute holding an epoch-seconds expiry (e.g. for object-scan jobs). */
  readonly ttl_attribute?: string | null;
}

export interface FunctionSpec {
  /** The deployed Lambda name (the runbook name, `qrie_inventory_generator`, ...). */
  readonly lambda_name: string;
  /** Keys of `tables` the function reads or writes: the only tables its role may touch. */
  readonly tables: readonly string[];
  /**
   * How it uses each of its tables. Optional: a table missing here is read-write, the only safe
   * default for a contract written before access levels existed.
   */
  readonly table_access?: Readonly<Record<string, TableAccess>>;
  /** The exact environment variable names its `Config::from_env()` reads. */
  readonly env: readonly string[];
}

export type TableAccess = 'read' | 'read_write';
const ACCESS_LEVELS = new Set<string>(['read', 'read_write']);

/** A function's access to one of its tables (see `FunctionSpec.table_access`). */
export function tableAccess(fn: FunctionSpec, table: string): TableAccess {
  return fn.table_access?.[table] ?? 'read_write';
}

export interface Contract {
  readonly tables: Readonly<Record<string, TableSpec>>;
  /** Keyed by the function's kebab-case name (package, binary, `target/lambda/<name>`). */
  readonly functions: Readonly<Record<string, FunctionSpec>>;
  readonly scanner_role_name: string;
  /** Collector service (`s3`, `ec2`, ...) to the IAM actions it calls in customer accounts. */
  readonly collector_permissions: Readonly<Record<string, readonly string[]>>;
  /** What the same role must also allow when the deployment imports into AWS Security Hub. */
  readonly security_hub_permissions: readonly string[];
  /**
   * The resource kinds qrie collects (the Rust registry), by CloudFormation type: their service,
   * residence, ARN template and the CloudTrail events (`<service>:<EventName>`) that keep them current.
   */
  readonly resource_kinds: Readonly<Record<string, ResourceKindSpec>>;
  /** Every CloudTrail `eventSource` (`s3.amazonaws.com`, ...) the event processor has rules for. */
  readonly event_sources: readonly string[];
}

export interface ResourceKindSpec {
  readonly service: string;
  readonly residence: 'global' | 'regional';
  readonly arn: string;
  readonly events: readonly string[];
}

/** Thrown when contract.json does not have the shape this app relies on. */
export class ContractError extends Error {
  constructor(message: string) {
    super(`shared/schema/contract.json: ${message}`);
    this.name = 'ContractError';
  }
}

const KEY_TYPES = new Set(['S', 'N', 'B']);
const EVENT_SOURCE = /^[a-z0-9-]+\.amazonaws\.com$/;
const PROJECTIONS = new Set(['ALL', 'KEYS_ONLY', 'INCLUDE']);

function checkKey(where: string, key: unknown): void {
  const k = key as Partial<KeySpec> | null | undefined;
  if (!k || typeof k.name !== 'string' || k.name === '' || !KEY_TYPES.has(k.type as string)) {
    throw new ContractError(`${where} must be {"name": <string>, "type": "S"|"N"|"B"}, got ${JSON.stringify(key)}`);
  }
}

/**
 * Checks the shape of a contract and the references inside it (a function's tables must exist), so
 * a mistake in the JSON fails synth with the field's name instead of producing a broken stack.
 */
export function validateContract(raw: unknown): Contract {
  const c = raw as Contract;
  if (!c || typeof c !== 'object') throw new ContractError('not an object');
  if (!c.tables || typeof c.tables !== 'object') throw new ContractError('missing "tables"');
  if (!c.functions || typeof c.functions !== 'object') throw new ContractError('missing "functions"');
  if (typeof c.scanner_role_name !== 'string' || !/^[\w+=,.@-]{1,64}$/.test(c.scanner_role_name)) {
    throw new ContractError(`"scanner_role_name" is not a valid IAM role name: ${JSON.stringify(c.scanner_role_name)}`);
  }
  if (!c.collector_permissions || typeof c.collector_permissions !== 'object') {
    throw new ContractError('missing "collector_permissions"');
  }
  const envNames = new Set<string>();
  for (const [key, t] of Object.entries(c.tables)) {
    const where = `tables.${key}`;
    if (typeof t.env !== 'string' || t.env === '') throw new ContractError(`${where}.env is missing`);
    if (envNames.has(t.env)) throw new ContractError(`${where}.env ${t.env} is used by two tables`);
    envNames.add(t.env);
    if (typeof t.default_name !== 'string' || t.default_name === '') throw new ContractError(`${where}.default_name is missing`);
    checkKey(`${where}.partition_key`, t.partition_key);
    if (t.sort_key !== null && t.sort_key !== undefined) checkKey(`${where}.sort_key`, t.sort_key);
    if (!Array.isArray(t.global_secondary_indexes)) throw new ContractError(`${where}.global_secondary_indexes must be a list`);
    for (const gsi of t.global_secondary_indexes) {
      const gw = `${where}.global_secondary_indexes.${gsi.name}`;
      if (typeof gsi.name !== 'string' || gsi.name === '') throw new ContractError(`${where}: an index has no name`);
      checkKey(`${gw}.partition_key`, gsi.partition_key);
      if (gsi.sort_key !== null && gsi.sort_key !== undefined) checkKey(`${gw}.sort_key`, gsi.sort_key);
      if (!PROJECTIONS.has(gsi.projection)) throw new ContractError(`${gw}.projection must be ALL, KEYS_ONLY or INCLUDE`);
      if (gsi.projection === 'INCLUDE' && !(gsi.non_key_attributes && gsi.non_key_attributes.length > 0)) {
        throw new ContractError(`${gw}: projection INCLUDE needs non_key_attributes`);
      }
    }
  }
  for (const [name, f] of Object.entries(c.functions)) {
    const where = `functions.${name}`;
    if (typeof f.lambda_name !== 'string' || f.lambda_name === '') throw new ContractError(`${where}.lambda_name is missing`);
    if (!Array.isArray(f.tables) || !Array.isArray(f.env)) throw new ContractError(`${where} needs "tables" and "env" lists`);
    for (const t of f.tables) {
      if (!(t in c.tables)) throw new ContractError(`${where}.tables names unknown table "${t}"`);
    }
    for (const [t, access] of Object.entries(f.table_access ?? {})) {
      if (!f.tables.includes(t)) throw new ContractError(`${where}.table_access names "${t}", which is not in its tables`);
      if (!ACCESS_LEVELS.has(access)) throw new ContractError(`${where}.table_access.${t} must be read or read_write, got ${JSON.stringify(access)}`);
    }
    if (new Set(f.env).size !== f.env.length) throw new ContractError(`${where}.env has a duplicate`);
  }
  for (const [service, actions] of Object.entries(c.collector_permissions)) {
    if (!Array.isArray(actions) || actions.some((a) => typeof a !== 'string' || !/^[a-z0-9-]+:[A-Za-z0-9*]+$/.test(a))) {
      throw new ContractError(`collector_permissions.${service} must be a list of "service:Action" strings`);
    }
  }
  if (!Array.isArray(c.security_hub_permissions) ||
    c.security_hub_permissions.some((a) => typeof a !== 'string' || !/^securityhub:[A-Za-z]+$/.test(a))) {
    throw new ContractError('"security_hub_permissions" must be a list of "securityhub:Action" strings');
  }
    if (!Array.isArray(c.event_sources) || c.event_sources.some((s) => typeof s !== 'string' || !EVENT_SOURCE.test(s))) {
    throw new ContractError('"event_sources" must be a list of "<service>.amazonaws.com" strings');
  }
  if (!c.resource_kinds || typeof c.resource_kinds !== 'object') throw new ContractError('missing "resource_kinds"');
  for (const [type, k] of Object.entries(c.resource_kinds)) {
    const where = `resource_kinds.${type}`;
    if (!(k.service in c.collector_permissions)) {
      throw new ContractError(`${where}.service ${JSON.stringify(k.service)} has no collector_permissions`);
    }
    if (!Array.isArray(k.events)) throw new ContractError(`${where}.events must be a list`);
    for (const e of k.events) {
      const source = `${e.split(':')[0]}.amazonaws.com`;
      if (!c.event_sources.includes(source)) {
        throw new ContractError(`${where}.events names ${e}, whose source ${source} is not in event_sources`);
      }
    }
  }
  return c;
}

/** The contract this repository ships, checked once at load. */
export const CONTRACT: Contract = validateContract(contractJson);

/** Every collector action, flattened over services, de-duplicated and sorted. */
export function collectorActions(contract: Contract): string[] {
  return [...new Set(Object.values(contract.collector_permissions).flat())].sort();
}

/**
 * `aws.<service>` EventBridge sources for the forwarding rule (customer side) and the bus rule
 * (qrie side): one per CloudTrail `eventSource` the event processor has rules for (the contract's
 * `event_sources`, read from the trail catalogue). The catalogue follows some services' events
 * ahead of their collectors, so onboarding need not be redeployed when a collector lands.
 */
export function coveredEventSources(contract: Contract): string[] {
  const services = new Set(contract.event_sources.map((s) => s.replace(/\.amazonaws\.com$/, '')));
  return [...services].sort().map((s) => `aws.${s}`);
}

/** The detail-type EventBridge gives CloudTrail-recorded API calls. */
export const CLOUDTRAIL_DETAIL_TYPE = 'AWS API Call via CloudTrail';
