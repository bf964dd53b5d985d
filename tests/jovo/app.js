#!/usr/bin/env node
/*
 * A small Jovo v4 app (plain JavaScript, no build step) that the jovofs
 * interoperability tests use as the reference client: it runs the real
 * request path of @jovotech/framework (RIDR pipeline, component routing,
 * the db plugin's loadData at request.end and saveData at response.end)
 * with the Core platform, one request per command.
 *
 * Usage:
 *   node app.js --db filedb  --path FILE                          [--stored JSON] CMD ...
 *   node app.js --db dynamodb --table T --endpoint URL [--region R] [--key-column C]
 *                                                                 [--stored JSON] CMD ...
 *   node app.js --db mongodb --uri URI [--database D] [--collection C] [--stored JSON] CMD ...
 *
 * Commands:
 *   set USERID KEY VALUE [KEY VALUE ...]
 *       one request (intent SetIntent) whose handler sets
 *       this.$user.data[KEY] = JSON.parse(VALUE) (VALUE that is not JSON is
 *       taken as a string) and this.$session.data.last = KEY (the last KEY);
 *       prints {"user":...,"session":...} as one JSON line.
 *   get USERID [USERID ...]
 *       one request per user (intent GetIntent) whose handler outputs
 *       this.$user.data and this.$session.data; prints one JSON line
 *       {"user":...,"session":...} per user.
 *   init
 *       creates what the backend needs (the DynamoDB table, waiting until it
 *       is ACTIVE; the FileDb file) and exits.
 *   CMD ... + CMD ...
 *       several commands, separated by a lone "+", run one after the other
 *       in one process (one request each, as a Jovo server handles them;
 *       saves node's start-up time).
 *
 * --stored is the db plugin's storedElements config (Jovo's own shape),
 * default Jovo's defaults (user, createdAt, updatedAt).
 * Every request is saved by the db plugin, `get` included (as in Jovo).
 * Exit status: 0 on success, 1 when Jovo failed the request, 2 on usage errors.
 * stdout carries only the JSON lines; Jovo's own logging goes to stderr.
 */
'use strict';

// keep stdout for our JSON lines: whatever Jovo logs goes to stderr
const out = process.stdout.write.bind(process.stdout);
console.log = console.info = console.debug = (...a) => console.error(...a);
// the AWS SDK warns on every start that it will need node >= 22: noise here
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (/NodeVersionSupportWarning/.test(`${w && w.name} ${w && w.message}`)) return;
  process.stderr.write(`${w && w.stack ? w.stack : w}\n`);
});

const path = require('path');
const {
  App,
  BaseComponent,
  Component,
  Handle,
  Server,
} = require('@jovotech/framework');
const { CorePlatform } = require('@jovotech/platform-core');

function usage(msg) {
  if (msg) process.stderr.write(`app.js: ${msg}\n`);
  process.stderr.write(
    'usage: node app.js --db filedb|dynamodb|mongodb [db options] [--stored JSON] ' +
      '(set USERID KEY VALUE [KEY VALUE...] | get USERID [USERID...] | init)\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {};
  const rest = [];
  const valued = new Set([
    'db', 'path', 'table', 'endpoint', 'region', 'key-column',
    'uri', 'database', 'collection', 'stored', 'session-id',
  ]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      let name = a.slice(2);
      let val;
      const eq = name.indexOf('=');
      if (eq >= 0) {
        val = name.slice(eq + 1);
        name = name.slice(0, eq);
      }
      if (!valued.has(name)) usage(`unknown option --${name}`);
      if (val === undefined) {
        if (i + 1 >= argv.length) usage(`--${name} needs a value`);
        val = argv[++i];
      }
      opts[name] = val;
    } else {
      rest.push(a);
    }
  }
  return { opts, rest };
}

function parseValue(s) {
  try {
    return JSON.parse(s);
  } catch (e) {
    return s;
  }
}

// ---------------------------------------------------------------- the app

// what the handlers hand back to the command loop (besides the response)
let lastResult;

class StoreComponent extends BaseComponent {
  SetIntent() {
    const pairs = this.$request.data && this.$request.data.pairs;
    if (!Array.isArray(pairs) || pairs.length === 0) {
      throw new Error('SetIntent without data.pairs');
    }
    for (const [key, value] of pairs) {
      this.$user.data[key] = value;
      this.$session.data.last = key;
    }
    lastResult = { user: this.$user.data, session: this.$session.data };
    return this.$send({ message: `set ${pairs.map((p) => p[0]).join(',')}` });
  }

  GetIntent() {
    lastResult = { user: this.$user.data, session: this.$session.data };
    return this.$send({ message: JSON.stringify(lastResult) });
  }

  UNHANDLED() {
    return this.$send({ message: 'unhandled' });
  }
}
Handle({ global: true, intents: ['SetIntent'] })(StoreComponent.prototype, 'SetIntent');
Handle({ global: true, intents: ['GetIntent'] })(StoreComponent.prototype, 'GetIntent');
Component()(StoreComponent);

// a Server that hands the request in and keeps the response
class CliServer extends Server {
  constructor(request) {
    super();
    this.request = request;
    this.response = undefined;
    this.error = undefined;
  }
  hasWriteFileAccess() {
    return true;
  }
  getRequestObject() {
    return this.request;
  }
  getQueryParams() {
    return {};
  }
  getNativeRequestHeaders() {
    return {};
  }
  setResponseHeaders() {}
  async setResponse(response) {
    this.response = response;
  }
  fail(error) {
    this.error = error || new Error('request failed');
  }
}

function coreRequest(userId, sessionId, input, data) {
  return {
    version: '4.0',
    platform: 'core',
    type: 'jovo-platform-core',
    id: `req-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
    timestamp: new Date().toISOString(),
    timeZone: 'UTC',
    locale: 'en',
    data: data || {},
    input,
    context: {
      device: { capabilities: ['TEXT'] },
      // the request's session is a fresh one; the db plugin replaces it with
      // the stored one when session is enabled and the stored one is not expired
      session: { id: sessionId, data: {}, isNew: true },
      user: { id: userId, data: {} },
    },
  };
}

// ---------------------------------------------------------------- db plugins

async function makeDb(opts, storedElements) {
  const db = opts.db;
  const base = storedElements ? { storedElements } : {};
  if (db === 'filedb') {
    if (!opts.path) usage('--db filedb needs --path FILE');
    const { FileDb } = require('@jovotech/db-filedb');
    // FileDb joins a relative path with cwd/dist: make it absolute.
    // skipTests: false, or FileDb skips itself when NODE_ENV=test.
    return new FileDb({ ...base, pathToFile: path.resolve(opts.path), skipTests: false });
  }
  if (db === 'dynamodb') {
    if (!opts.table) usage('--db dynamodb needs --table T');
    const { DynamoDb } = require('@jovotech/db-dynamodb');
    const client = { region: opts.region || process.env.AWS_REGION || 'us-east-1' };
    if (opts.endpoint) client.endpoint = opts.endpoint;
    return new DynamoDb({
      ...base,
      table: {
        name: opts.table,
        primaryKeyColumn: opts['key-column'] || 'userId',
        createTableOnInit: true,
      },
      libraryConfig: {
        dynamoDbClient: client,
        marshall: { removeUndefinedValues: true, convertClassInstanceToMap: true },
      },
    });
  }
  if (db === 'mongodb') {
    if (!opts.uri) usage('--db mongodb needs --uri URI');
    const { MongoDb } = require('@jovotech/db-mongodb');
    const cfg = { ...base, connectionString: opts.uri };
    if (opts.database) cfg.databaseName = opts.database;
    if (opts.collection) cfg.collectionName = opts.collection;
    return new MongoDb(cfg);
  }
  usage(`unknown --db ${db}`);
}

// Jovo's DynamoDb.initialize() creates a missing table and then throws
// ("Please wait a moment"): create it here first and wait until it is ACTIVE.
async function ensureDynamoTable(plugin) {
  const {
    DescribeTableCommand,
    CreateTableCommand,
  } = require('@aws-sdk/client-dynamodb');
  const name = plugin.config.table.name;
  const describe = async () => {
    try {
      const r = await plugin.client.send(new DescribeTableCommand({ TableName: name }));
      return r.Table.TableStatus;
    } catch (e) {
      if (e.name === 'ResourceNotFoundException') return undefined;
      throw e;
    }
  };
  let status = await describe();
  if (status === undefined) {
    try {
      await plugin.createTable();
    } catch (e) {
      if (e.name !== 'ResourceInUseException') throw e;
    }
    status = await describe();
  }
  for (let i = 0; status !== 'ACTIVE' && i < 300; i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = await describe();
  }
  if (status !== 'ACTIVE') throw new Error(`table ${name} is ${status}, not ACTIVE`);
}

async function closeDb(opts, plugin) {
  if (opts.db === 'mongodb') {
    const client = await plugin.client;
    await client.close();
  } else if (opts.db === 'dynamodb') {
    plugin.client.destroy();
  }
}

// ---------------------------------------------------------------- main

async function main() {
  const { opts, rest } = parseArgs(process.argv.slice(2));
  if (!opts.db) usage('--db is required');
  let storedElements;
  if (opts.stored !== undefined) {
    try {
      storedElements = JSON.parse(opts.stored);
    } catch (e) {
      usage(`--stored is not JSON: ${e.message}`);
    }
  }
  // commands separated by a lone "+" run one after the other in this process
  const cmds = [[]];
  for (const a of rest) {
    if (a === '+') cmds.push([]);
    else cmds[cmds.length - 1].push(a);
  }
  for (const [cmd, ...args] of cmds) {
    if (!cmd) usage('no command');
    if (cmd === 'set') {
      if (!args[0] || args.length < 3 || (args.length - 1) % 2 !== 0) {
        usage('set USERID KEY VALUE [KEY VALUE ...]');
      }
    } else if (cmd === 'get') {
      if (args.length === 0) usage('get USERID [USERID ...]');
    } else if (cmd === 'init') {
      if (args.length) usage('init takes no arguments');
    } else {
      usage(`unknown command ${cmd}`);
    }
  }

  const plugin = await makeDb(opts, storedElements);
  if (opts.db === 'dynamodb') await ensureDynamoTable(plugin);

  const app = new App({
    plugins: [new CorePlatform()],
    components: [StoreComponent],
    logging: false,
  });
  app.use(plugin);
  let status = 0;
  try {
    await app.initialize();

    const handle = async (userId, input, data) => {
      lastResult = undefined;
      const sessionId = opts['session-id'] || `session-${userId}`;
      const server = new CliServer(coreRequest(userId, sessionId, input, data));
      await app.handle(server);
      if (server.error) throw server.error;
      if (!server.response) throw new Error(`no response for user ${userId}`);
      if (lastResult === undefined) throw new Error(`handler did not run for user ${userId}`);
      // lastResult holds live objects: serialise now, before anything else runs
      out(JSON.stringify(lastResult) + '\n');
    };

    for (const [cmd, ...args] of cmds) {
      if (cmd === 'set') {
        const [userId, ...kv] = args;
        const pairs = [];
        for (let i = 0; i < kv.length; i += 2) pairs.push([kv[i], parseValue(kv[i + 1])]);
        await handle(userId, { type: 'INTENT', intent: 'SetIntent' }, { pairs });
      } else if (cmd === 'get') {
        for (const userId of args) {
          await handle(userId, { type: 'INTENT', intent: 'GetIntent' });
        }
      }
    }
  } catch (e) {
    process.stderr.write(`app.js: ${e && e.stack ? e.stack : e}\n`);
    status = 1;
  } finally {
    await closeDb(opts, plugin).catch(() => {});
  }
  return status;
}

main().then(
  (status) => process.exit(status),
  (e) => {
    process.stderr.write(`app.js: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
