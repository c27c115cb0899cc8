// pam-aws-console for Node: the component, transpiled by jco (dist/gen),
// instantiated once per broker with its own config and store. WASI comes
// from @bytecodealliance/preview2-shim; wasi:keyvalue and wasi:config are
// implemented here over the caller's objects.
import { readFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import { cli, clocks, http, io, random } from '@bytecodealliance/preview2-shim';
import { instantiate } from '../dist/gen/pam-aws-console.js';

const GEN = new URL('../dist/gen/', import.meta.url);
const compiled = new Map();

function coreModule(name) {
  if (!compiled.has(name)) {
    compiled.set(name, readFile(new URL(name, GEN)).then((bytes) => WebAssembly.compile(bytes)));
  }
  return compiled.get(name);
}

/** wasi:keyvalue/store, atomics and batch over a Map-like `store`
 *  (get/set/delete/keys); values are Uint8Array, counters decimal text. */
function keyValue(store, allowedBucket) {
  const kvError = (message) => ({ tag: 'other', val: message });
  class Bucket {
    get(key) {
      const value = store.get(key);
      return value === undefined ? undefined : Uint8Array.from(value);
    }

    set(key, value) {
      store.set(key, Uint8Array.from(value));
    }

    delete(key) {
      store.delete(key);
    }

    listKeys(cursor) {
      const page = 1000;
      const keys = [...store.keys()].sort();
      const start = cursor === undefined ? 0 : Number(cursor);
      const slice = keys.slice(start, start + page);
      const next = start + slice.length;
      return next < keys.length ? { keys: slice, cursor: BigInt(next) } : { keys: slice };
    }
  }
  const bucket = new Bucket();
  return {
    store: {
      Bucket,
      open(identifier) {
        if (identifier !== allowedBucket) throw { tag: 'no-such-store' };
        return bucket;
      },
    },
    atomics: {
      increment(_bucket, key, delta) {
        const current = store.get(key);
        const text = current === undefined ? '0' : new TextDecoder().decode(current);
        if (!/^\d+$/.test(text)) throw kvError(`${key} does not hold a counter`);
        const next = BigInt(text) + BigInt(delta);
        store.set(key, new TextEncoder().encode(next.toString()));
        return next;
      },
    },
    batch: {
      getMany(b, keys) {
        return keys.map((key) => {
          const value = b.get(key);
          return value === undefined ? undefined : [key, value];
        });
      },
      setMany(b, pairs) {
        for (const [key, value] of pairs) b.set(key, value);
      },
      deleteMany(b, keys) {
        for (const key of keys) b.delete(key);
      },
    },
  };
}

/** An Error whose `payload` is the component's error variant, e.g.
 *  `{tag: 'invalid-input', val: {field, message}}`. */
export class BrokerError extends Error {
  constructor(payload) {
    const val = payload && payload.val;
    const detail = typeof val === 'string' ? val : (val && val.message) || JSON.stringify(val);
    super(`${payload && payload.tag}: ${detail}`);
    this.name = 'BrokerError';
    this.payload = payload;
  }
}

/** Runs `call` and turns the component's `err` into a rejected BrokerError. */
async function guarded(call) {
  try {
    return call();
  } catch (error) {
    if (error && 'payload' in error) throw new BrokerError(error.payload);
    throw error;
  }
}

/**
 * Opens a broker over `config` (the component's config keys, e.g.
 * `{'sts-endpoint': …, 'aws-access-key-id': …}`) and `store` (a Map, or
 * anything with get/set/delete/keys holding Uint8Array values).
 */
export async function open({ config = {}, store = new Map() } = {}) {
  const settings = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)]));
  const kv = keyValue(store, settings['kv-bucket'] ?? '');
  const imports = {
    'pam:aws-console/types': {},
    'wasi:cli/environment': cli.environment,
    'wasi:cli/exit': cli.exit,
    'wasi:cli/stderr': cli.stderr,
    'wasi:cli/stdin': cli.stdin,
    'wasi:cli/stdout': cli.stdout,
    'wasi:cli/terminal-input': cli.terminalInput,
    'wasi:cli/terminal-output': cli.terminalOutput,
    'wasi:cli/terminal-stderr': cli.terminalStderr,
    'wasi:cli/terminal-stdin': cli.terminalStdin,
    'wasi:cli/terminal-stdout': cli.terminalStdout,
    'wasi:clocks/monotonic-clock': clocks.monotonicClock,
    'wasi:clocks/wall-clock': clocks.wallClock,
    'wasi:config/store': {
      get: (key) => settings[key],
      getAll: () => Object.entries(settings),
    },
    'wasi:http/outgoing-handler': http.outgoingHandler,
    'wasi:http/types': http.types,
    'wasi:io/error': io.error,
    'wasi:io/poll': io.poll,
    'wasi:io/streams': io.streams,
    'wasi:keyvalue/atomics': kv.atomics,
    'wasi:keyvalue/batch': kv.batch,
    'wasi:keyvalue/store': kv.store,
    'wasi:random/insecure-seed': random.insecureSeed,
    'wasi:random/random': random.random,
  };
  const component = await instantiate(coreModule, imports);
  const broker = component.broker;
  let server;

  return {
    createResource: (actor, { name, roleArn, externalId, sourceIdentity = false }) =>
      guarded(() => broker.createResource(actor, { name, roleArn, externalId, sourceIdentity })),
    createAccount: (actor, { resource, name, roleArn, duration, description, region, service, allow = [] }) =>
      guarded(() => broker.createAccount(actor, { resource, name, roleArn, duration, description, region, service, allow })),
    access: ({ resource, account, user, region, service }) =>
      guarded(() => broker.access({ resource, account, user, region, service })),
    credentials: ({ resource, account, user, region, service }) =>
      guarded(() => broker.credentials({ resource, account, user, region, service })),
    listResources: () => guarded(() => broker.listResources()),
    listAccounts: (resource) => guarded(() => broker.listAccounts(resource)),
    listSessions: ({ activeOnly = false, user, resource, account, limit, before } = {}) =>
      guarded(() => broker.listSessions({ activeOnly, user, resource, account, limit, before })),
    revokeSession: (actor, id) => guarded(() => broker.revokeSession(actor, id)),
    listAuditEvents: (limit, before) => guarded(() => broker.listAuditEvents(limit, before)),

    /**
     * A `(req, res)` handler for `http.createServer` serving the REST API
     * (and the web console) from the component's incoming-handler. The
     * shim runs that handler behind its own loopback listener, started on
     * first use; requests are relayed to it unchanged.
     */
    handler: async (req, res) => {
      server ??= startShimServer(component.incomingHandler);
      const { port } = await server;
      const relay = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode, answer.headers);
          answer.pipe(res);
        });
      relay.on('error', (error) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { kind: 'upstream', field: null, message: error.message } }));
      });
      req.pipe(relay);
    },

    /** Stops the handler's listener, if one was started. */
    close: async () => {
      if (server) (await server).shim.stop();
    },
  };
}

async function startShimServer(incomingHandler) {
  // A free port, then the shim's server on it (it listens off-thread).
  const port = await new Promise((resolve, reject) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
    probe.on('error', reject);
  });
  const shim = new http.HTTPServer(incomingHandler);
  shim.listen(port, '127.0.0.1');
  return { shim, port };
}
