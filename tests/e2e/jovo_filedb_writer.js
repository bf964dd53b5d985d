// A Jovo app's FileDb saves, as @jovotech/db-filedb 4.6.2 does them:
// read the whole file, change one user, fs.writeFileSync(path,
// JSON.stringify(users, null, 2)) in place, no lock. Used by filedb.bats.
//
//   node jovo_filedb_writer.js DB DURATION_MS PREFIX COUNT [PAUSE_MS]
//
// Each loop bumps user.data.counter of the user PREFIX-(i % COUNT). It
// remembers what it wrote; reading back less than that means someone wrote a
// stale copy of an app-owned user ("lost"). Prints a JSON report at the end:
// {"loops": N, "lost": [...], "counters": {id: counter}, "parseRetries": N}
'use strict';
const fs = require('fs');
const [db, durationMs, prefix, countArg, pauseArg] = process.argv.slice(2);
const count = Number(countArg);
const pause = Number(pauseArg || 10);
const end = Date.now() + Number(durationMs);
const written = {};
const lost = [];
let loops = 0;
let parseRetries = 0;

function sleep(ms) {
	Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readUsers() {
	for (let tries = 0; ; tries++) {
		try {
			return JSON.parse(fs.readFileSync(db, 'utf8'));
		} catch (e) {
			// only ever a torn file from another writer; Jovo itself would crash here
			parseRetries++;
			if (tries > 1000) throw e;
			sleep(1);
		}
	}
}

while (Date.now() < end) {
	const users = readUsers();
	const id = `${prefix}-${loops % count}`;
	let u = users.find((x) => x.id === id);
	if (!u) {
		u = { id, user: { data: { counter: 0 } }, createdAt: new Date().toISOString() };
		users.push(u);
	}
	const have = u.user.data.counter ?? 0;
	if (written[id] !== undefined && have !== written[id])
		lost.push({ id, expected: written[id], found: have, loop: loops });
	u.user.data.counter = (written[id] ?? have) + 1;
	u.updatedAt = new Date().toISOString();
	fs.writeFileSync(db, JSON.stringify(users, null, 2));
	written[id] = u.user.data.counter;
	loops++;
	sleep(pause);
}
console.log(JSON.stringify({ loops, lost, counters: written, parseRetries }));
