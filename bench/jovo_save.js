#!/usr/bin/env node
/*
 * Times Jovo's own FileDb save of one user: one request through the real
 * framework (app.handle() with the Core platform and @jovotech/db-filedb),
 * against an existing FileDb file. The request's handler sets
 * $user.data.benchEdit, so the db plugin's saveData rewrites the whole file
 * (readFile + JSON.parse + find + JSON.stringify(users, null, 2) + writeFile),
 * exactly as a Jovo app does after every request.
 *
 *   node bench/jovo_save.js --path DB.json --user ID [--value V] [--stored JSON]
 *
 * Prints one JSON line on stdout:
 *   {"handle_ms":..., "load_ms":..., "save_ms":..., "users":..., "bytes":...}
 * handle_ms: the whole app.handle() (loadData reads and parses the file too);
 * save_ms:   the db plugin's saveData alone (what "Jovo's save of one user" means
 *            in bench/README.md); load_ms: its loadData alone.
 * Node's start-up and app.initialize() are not timed.
 *
 * Needs the Jovo packages of tests/jovo (tests/jovo/install.sh); NODE_PATH
 * or the default resolution from tests/jovo/node_modules is used.
 */
'use strict';

const path = require('path');
const fs = require('fs');

// resolve the Jovo packages from tests/jovo/node_modules (this file lives in bench/)
const jovoModules = path.join(__dirname, '..', 'tests', 'jovo', 'node_modules');
function req(name) {
  try {
    return require(require.resolve(name, { paths: [jovoModules] }));
  } catch (e) {
    return require(name);
  }
}

// Jovo logs to stdout: keep stdout for our one JSON line
const out = process.stdout.write.bind(process.stdout);
console.log = console.info = console.debug = (...a) => console.error(...a);
process.removeAllListeners('warning');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  return dflt;
}

const { App, BaseComponent, Component, Handle, Server } = req('@jovotech/framework');
const { CorePlatform } = req('@jovotech/platform-core');
const { FileDb } = req('@jovotech/db-filedb');

const dbPath = arg('path');
const userId = arg('user');
const value = arg('value', `bench-${Date.now()}`);
const storedArg = arg('stored');
if (!dbPath || !userId) {
  process.stderr.write('usage: node bench/jovo_save.js --path DB.json --user ID [--value V] [--stored JSON]\n');
  process.exit(2);
}

class BenchComponent extends BaseComponent {
  EditIntent() {
    this.$user.data.benchEdit = value;
    return this.$send({ message: 'ok' });
  }
  UNHANDLED() {
    this.$user.data.benchEdit = value;
    return this.$send({ message: 'ok' });
  }
}
Handle({ global: true, intents: ['EditIntent'] })(BenchComponent.prototype, 'EditIntent');
Component()(BenchComponent);

class BenchServer extends Server {
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

async function main() {
  const cfg = { pathToFile: path.resolve(dbPath), skipTests: false };
  if (storedArg) cfg.storedElements = JSON.parse(storedArg);
  const db = new FileDb(cfg);

  const t = { load: 0, save: 0 };
  const wrap = (name) => {
    const orig = db[`${name}Data`].bind(db);
    db[`${name}Data`] = async (...a) => {
      const s = process.hrtime.bigint();
      try {
        return await orig(...a);
      } finally {
        t[name] += Number(process.hrtime.bigint() - s) / 1e6;
      }
    };
  };
  wrap('load');
  wrap('save');

  const app = new App({ plugins: [new CorePlatform()], components: [BenchComponent], logging: false });
  app.use(db);
  await app.initialize();

  const request = {
    version: '4.0',
    platform: 'core',
    type: 'jovo-platform-core',
    id: `bench-${process.pid}`,
    timestamp: new Date().toISOString(),
    timeZone: 'UTC',
    locale: 'en',
    data: {},
    input: { type: 'INTENT', intent: 'EditIntent' },
    context: {
      device: { capabilities: ['TEXT'] },
      session: { id: `session-${userId}`, data: {}, isNew: true },
      user: { id: userId, data: {} },
    },
  };
  const server = new BenchServer(request);
  const s = process.hrtime.bigint();
  await app.handle(server);
  const handleMs = Number(process.hrtime.bigint() - s) / 1e6;
  if (server.error) throw server.error;
  if (!server.response) throw new Error('no response');

  // check the save really happened
  const users = JSON.parse(fs.readFileSync(cfg.pathToFile, 'utf8'));
  const u = users.find((x) => x.id === userId);
  if (!u || !u.user || !u.user.data || u.user.data.benchEdit !== value) {
    throw new Error(`user ${userId} was not saved with benchEdit=${value}`);
  }
  out(JSON.stringify({
    handle_ms: +handleMs.toFixed(1),
    load_ms: +t.load.toFixed(1),
    save_ms: +t.save.toFixed(1),
    users: users.length,
    bytes: fs.statSync(cfg.pathToFile).size,
  }) + '\n');
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`jovo_save.js: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
