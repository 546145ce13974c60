/**
 * Entry point of `cdk synth` / `cdk deploy` (see cdk.json): the qrie stack and the customer
 * onboarding stack, checked by cdk-nag. Context keys: qrie:accounts, qrie:organizationId,
 * qrie:code (zip|stub|auto), qrie:lambdaDir, qrie:reservedConcurrency; see infra/README.md.
 */
import { buildApp } from '../lib/app';

buildApp().app.synth();
