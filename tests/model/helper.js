#!/usr/bin/env node
/*
 * The model suite's hands on the store (tests/model/model.py drives it):
 * one long-running process that reads one JSON request a line on stdin and
 * answers one JSON line on stdout, so a sequence pays node's start-up once.
 *
 * It stores items the way the real Jovo db plugins do, with their own
 * libraries (from tests/jovo/node_modules): FileDb rewrites the whole file
 * in place with JSON.stringify(users, null, 2); DynamoDb PutItem()s the
 * marshall()ed item; MongoDb updateOne({_id}, {$set: item}, {upsert: true}).
 * And it runs requests through the real Jovo framework (@jovotech/framework
 * 4.6.2 with the Core platform, as tests/jovo/app.js does), which loads and
 * saves users with the real db plugins.
 *
 * Requests ({"op": ..., ...}; the answer is {"ok": RESULT} or {"error": TEXT}):
 *   use {backend, cfg, stored}   the store to work on: cfg is the backend's
 *                                part of the mount's config (backend_config_json),
 *                                stored its storedElements
 *   create                       a new empty store (FileDb "[]", a DynamoDB table,
 *                                nothing for MongoDb: the database appears on write)
 *   drop                         remove the store
 *   all                          every item, plain JSON with the id as "id"
 *                                (FileDb: in file order; else sorted by id)
 *   put {item}                   save an item as Jovo saves it
 *   del {id}                     delete an item (no Jovo plugin does; an operator might)
 *   rewrite {items}              FileDb: write this whole array back, as a Jovo app
 *                                does with the copy it read
 *   jovo {reqs: [[intent, id, pairs]]}  requests through the real Jovo app:
 *                                intent "get" (loads and saves the user) or
 *                                "set" (user.data[k] = v for [k, v] in pairs);
 *                                answers [{user, session}] with the data the
 *                                handler saw
 */
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const JOVO_DIR = process.argv[2] || path.join(__dirname, '..', 'jovo');
const need = (m) => require(require.resolve(m, { paths: [JOVO_DIR] }));

const out = process.stdout.write.bind(process.stdout);
// Jovo and the AWS SDK log: keep stdout for the answers
console.log = console.info = console.debug = console.warn = (...a) => console.error(...a);
process.removeAllListeners('warning');
process.on('warning', () => {});

let cur = null; // { backend, cfg, stored, ddb, mongo }

// ------------------------------------------------------------------ stores

function ddbClient(cfg) {
  const { DynamoDBClient } = need('@aws-sdk/client-dynamodb');
  const c = cfg.dynamodb.libraryConfig.dynamoDbClient;
  return new DynamoDBClient({
    region: c.region || 'us-east-1',
    endpoint: c.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

function ddbTable(cfg) {
  return cfg.dynamodb.table.name;
}

function ddbPk(cfg) {
  return cfg.dynamodb.table.primaryKeyColumn || 'userId';
}

async function mongoColl() {
  if (!cur.mongo) {
    const { MongoClient } = need('mongodb');
    cur.mongo = await MongoClient.connect(cur.cfg.mongodb.connectionString, {
      serverSelectionTimeoutMS: 10000,
    });
  }
  return cur.mongo
    .db(cur.cfg.mongodb.databaseName)
    .collection(cur.cfg.mongodb.collectionName || 'jovoUsers');
}

function fileUsers(p) {
  const s = fs.readFileSync(p, 'utf8');
  const users = s.length > 0 ? JSON.parse(s) : [];
  if (!Array.isArray(users)) throw new Error(`${p} does not hold a JSON array`);
  return users;
}

const ops = {};

ops.use = async ({ backend, cfg, stored }) => {
  await closeCur();
  cur = { backend, cfg, stored };
  if (backend === 'dynamodb') cur.ddb = ddbClient(cfg);
  return null;
};

ops.create = async () => {
  if (cur.backend === 'filedb') {
    const p = cur.cfg.filedb.pathToFile;
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, '[]');
  } else if (cur.backend === 'dynamodb') {
    const { CreateTableCommand, DescribeTableCommand } = need('@aws-sdk/client-dynamodb');
    const TableName = ddbTable(cur.cfg);
    await cur.ddb.send(new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: ddbPk(cur.cfg), AttributeType: 'S' }],
      KeySchema: [{ AttributeName: ddbPk(cur.cfg), KeyType: 'HASH' }],
    }));
    for (let i = 0; i < 400; i++) {
      const r = await cur.ddb.send(new DescribeTableCommand({ TableName }));
      if (r.Table.TableStatus === 'ACTIVE') return null;
      await new Promise((res) => setTimeout(res, 25));
    }
    throw new Error(`table ${TableName} did not become ACTIVE`);
  }
  return null;
};

ops.drop = async () => {
  if (cur.backend === 'filedb') {
    fs.rmSync(path.dirname(cur.cfg.filedb.pathToFile), { recursive: true, force: true });
  } else if (cur.backend === 'dynamodb') {
    const { DeleteTableCommand } = need('@aws-sdk/client-dynamodb');
    await cur.ddb.send(new DeleteTableCommand({ TableName: ddbTable(cur.cfg) }));
  } else {
    await mongoColl();
    await cur.mongo.db(cur.cfg.mongodb.databaseName).dropDatabase();
  }
  return null;
};

ops.all = async () => {
  if (cur.backend === 'filedb') {
    const users = fileUsers(cur.cfg.filedb.pathToFile);
    const ids = new Set();
    for (const u of users) {
      if (typeof u !== 'object' || u === null || typeof u.id !== 'string')
        throw new Error(`FileDb holds an item without a string id: ${JSON.stringify(u)}`);
      if (ids.has(u.id)) throw new Error(`FileDb holds id ${JSON.stringify(u.id)} twice`);
      ids.add(u.id);
    }
    return users;
  }
  if (cur.backend === 'dynamodb') {
    const { ScanCommand } = need('@aws-sdk/client-dynamodb');
    const { unmarshall } = need('@aws-sdk/util-dynamodb');
    const pk = ddbPk(cur.cfg);
    const items = [];
    let start;
    do {
      const r = await cur.ddb.send(new ScanCommand({
        TableName: ddbTable(cur.cfg), ConsistentRead: true, ExclusiveStartKey: start,
      }));
      for (const raw of r.Items) {
        // Jovo's own loadData: unmarshall() (it throws on numbers it cannot hold)
        const { [pk]: id, ...rest } = unmarshall(raw);
        items.push({ id, ...rest });
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
  const c = await mongoColl();
  const docs = await c.find({}).sort({ _id: 1 }).toArray();
  return docs.map(({ _id, ...rest }) => ({ id: _id, ...rest }));
};

ops.put = async ({ item }) => {
  const { id, ...rest } = item;
  if (cur.backend === 'filedb') {
    const p = cur.cfg.filedb.pathToFile;
    const users = fileUsers(p);
    const i = users.findIndex((u) => u.id === id);
    if (i >= 0) users[i] = item;
    else users.push(item);
    // as @jovotech/db-filedb: the whole file, in place, no trailing newline
    await fs.promises.writeFile(p, JSON.stringify(users, null, 2));
  } else if (cur.backend === 'dynamodb') {
    const { PutItemCommand } = need('@aws-sdk/client-dynamodb');
    const { marshall } = need('@aws-sdk/util-dynamodb');
    await cur.ddb.send(new PutItemCommand({
      TableName: ddbTable(cur.cfg),
      Item: marshall({ [ddbPk(cur.cfg)]: id, ...rest },
        { removeUndefinedValues: true, convertClassInstanceToMap: true }),
    }));
  } else {
    const c = await mongoColl();
    await c.updateOne({ _id: id }, { $set: { _id: id, ...rest } }, { upsert: true });
  }
  return null;
};

// FileDb: write back a whole array (a Jovo app's stale copy of the file), in place
ops.rewrite = async ({ items }) => {
  await fs.promises.writeFile(cur.cfg.filedb.pathToFile, JSON.stringify(items, null, 2));
  return null;
};

ops.del = async ({ id }) => {
  if (cur.backend === 'filedb') {
    const p = cur.cfg.filedb.pathToFile;
    const users = fileUsers(p).filter((u) => u.id !== id);
    await fs.promises.writeFile(p, JSON.stringify(users, null, 2));
  } else if (cur.backend === 'dynamodb') {
    const { DeleteItemCommand } = need('@aws-sdk/client-dynamodb');
    await cur.ddb.send(new DeleteItemCommand({
      TableName: ddbTable(cur.cfg), Key: { [ddbPk(cur.cfg)]: { S: id } },
    }));
  } else {
    const c = await mongoColl();
    await c.deleteOne({ _id: id });
  }
  return null;
};

// ------------------------------------------------------------------ the Jovo app

let jovoLib = null;
let lastResult;

function jovo() {
  if (jovoLib) return jovoLib;
  const { App, BaseComponent, Component, Handle, Server } = need('@jovotech/framework');
  const { CorePlatform } = need('@jovotech/platform-core');

  class StoreComponent extends BaseComponent {
    SetIntent() {
      for (const [key, value] of this.$request.data.pairs) {
        this.$user.data[key] = value;
        this.$session.data.last = key;
      }
      lastResult = JSON.stringify({ user: this.$user.data, session: this.$session.data });
      return this.$send({ message: 'set' });
    }

    GetIntent() {
      lastResult = JSON.stringify({ user: this.$user.data, session: this.$session.data });
      return this.$send({ message: 'get' });
    }

    UNHANDLED() {
      return this.$send({ message: 'unhandled' });
    }
  }
  Handle({ global: true, intents: ['SetIntent'] })(StoreComponent.prototype, 'SetIntent');
  Handle({ global: true, intents: ['GetIntent'] })(StoreComponent.prototype, 'GetIntent');
  Component()(StoreComponent);

  class CliServer extends Server {
    constructor(request) {
      super();
      this.request = request;
    }
    hasWriteFileAccess() { return true; }
    getRequestObject() { return this.request; }
    getQueryParams() { return {}; }
    getNativeRequestHeaders() { return {}; }
    setResponseHeaders() {}
    async setResponse(response) { this.response = response; }
    fail(error) { this.error = error || new Error('request failed'); }
  }
  jovoLib = { App, CorePlatform, StoreComponent, CliServer };
  return jovoLib;
}

function jovoDb() {
  const base = { storedElements: cur.stored };
  if (cur.backend === 'filedb') {
    const { FileDb } = need('@jovotech/db-filedb');
    return new FileDb({ ...base, pathToFile: path.resolve(cur.cfg.filedb.pathToFile),
      skipTests: false });
  }
  if (cur.backend === 'dynamodb') {
    const { DynamoDb } = need('@jovotech/db-dynamodb');
    const c = cur.cfg.dynamodb.libraryConfig.dynamoDbClient;
    return new DynamoDb({
      ...base,
      table: { name: ddbTable(cur.cfg), primaryKeyColumn: ddbPk(cur.cfg), createTableOnInit: false },
      libraryConfig: {
        dynamoDbClient: { region: c.region || 'us-east-1', endpoint: c.endpoint },
        marshall: { removeUndefinedValues: true, convertClassInstanceToMap: true },
      },
    });
  }
  const { MongoDb } = need('@jovotech/db-mongodb');
  return new MongoDb({
    ...base,
    connectionString: cur.cfg.mongodb.connectionString,
    databaseName: cur.cfg.mongodb.databaseName,
    collectionName: cur.cfg.mongodb.collectionName || 'jovoUsers',
  });
}

ops.jovo = async ({ reqs }) => {
  const { App, CorePlatform, StoreComponent, CliServer } = jovo();
  const plugin = jovoDb();
  const app = new App({ plugins: [new CorePlatform()], components: [StoreComponent], logging: false });
  app.use(plugin);
  const results = [];
  try {
    await app.initialize();
    for (const [intent, userId, pairs] of reqs) {
      lastResult = undefined;
      const request = {
        version: '4.0', platform: 'core', type: 'jovo-platform-core',
        id: `model-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
        timestamp: new Date().toISOString(), timeZone: 'UTC', locale: 'en',
        data: intent === 'set' ? { pairs } : {},
        input: { type: 'INTENT', intent: intent === 'set' ? 'SetIntent' : 'GetIntent' },
        context: {
          device: { capabilities: ['TEXT'] },
          session: { id: `session-${userId}`, data: {}, isNew: true },
          user: { id: userId, data: {} },
        },
      };
      const server = new CliServer(request);
      await app.handle(server);
      if (server.error) throw server.error;
      if (lastResult === undefined) throw new Error(`the handler did not run for ${userId}`);
      results.push(JSON.parse(lastResult));
    }
  } finally {
    if (cur.backend === 'mongodb') await (await plugin.client).close().catch(() => {});
    else if (cur.backend === 'dynamodb') plugin.client.destroy();
  }
  return results;
};

async function closeCur() {
  if (!cur) return;
  if (cur.ddb) cur.ddb.destroy();
  if (cur.mongo) await cur.mongo.close().catch(() => {});
  cur = null;
}

// ------------------------------------------------------------------ main loop

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
      const f = ops[req.op];
      if (!f) throw new Error(`unknown op ${req.op}`);
      if (req.op !== 'use' && !cur) throw new Error('no store: send "use" first');
      const res = await f(req);
      out(JSON.stringify({ ok: res === undefined ? null : res }) + '\n');
    } catch (e) {
      out(JSON.stringify({ error: String((e && e.stack) || e) }) + '\n');
    }
  });
});
rl.on('close', () => {
  chain.then(closeCur).then(() => process.exit(0));
});
