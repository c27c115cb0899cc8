// The package's API over the types jco generates from the component's WIT
// (dist/gen/interfaces/pam-aws-console-types.d.ts, written by `npm run build`).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as T from '../dist/gen/interfaces/pam-aws-console-types.js';

export type * from '../dist/gen/interfaces/pam-aws-console-types.js';

/** Anything Map-like: a `Map<string, Uint8Array>` works. */
export interface Store {
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): unknown;
  delete(key: string): unknown;
  keys(): Iterable<string>;
}

/** Rejections carry the component's error variant. */
export class BrokerError extends Error {
  payload: T.Error;
}

export interface Broker {
  createResource(actor: string, input: { name: string; roleArn: string; externalId?: string; sourceIdentity?: boolean }): Promise<T.Resource>;
  createAccount(actor: string, input: {
    resource: string; name: string; roleArn: string; duration: string;
    description?: string; region?: string; service?: string; allow?: string[];
  }): Promise<T.Account>;
  access(request: T.AccessRequest): Promise<T.AccessGrant>;
  credentials(request: T.AccessRequest): Promise<T.CredentialsGrant>;
  listResources(): Promise<T.Resource[]>;
  listAccounts(resource?: string): Promise<T.Account[]>;
  listSessions(filter?: Partial<T.SessionFilter>): Promise<T.Session[]>;
  revokeSession(actor: string, id: string): Promise<T.Session>;
  listAuditEvents(limit?: number, before?: string): Promise<T.AuditEvent[]>;
  /** Serves the REST API (and the web console) on `http.createServer`. */
  handler(req: IncomingMessage, res: ServerResponse): Promise<void>;
  close(): Promise<void>;
}

/** `config`: the component's config keys; `store`: where records live. */
export function open(options?: { config?: Record<string, string>; store?: Store }): Promise<Broker>;
