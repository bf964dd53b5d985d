// A Jovo app's FileDb saves (read the whole file, change one user,
// fs.writeFileSync in place, no lock, as @jovotech/db-filedb 4.6.2 does),
// each giving user ID a new user.data {v: n, pad, w: n}: the same n at the
// start and at the end of the element, so a reader can tell a torn read.
//
//   node jovo_filedb_stamper.js DB ID DURATION_MS PAD_BYTES [PAUSE_MS]
//
// Prints {"saves": N} at the end.
'use strict';
const fs = require('fs');
const [db, id, durationMs, padArg, pauseArg] = process.argv.slice(2);
const pad = 'x'.repeat(Number(padArg));
const pause = Number(pauseArg || 5);
const end = Date.now() + Number(durationMs);
let saves = 0;

function sleep(ms) {
	Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readUsers() {
	for (let tries = 0; ; tries++) {
		try {
			return JSON.parse(fs.readFileSync(db, 'utf8'));
		} catch (e) {
			// a torn file of its own making can't happen here; a rewrite by the mount can
			if (tries > 1000) throw e;
			sleep(1);
		}
	}
}

while (Date.now() < end) {
	const users = readUsers();
	const u = users.find((x) => x.id === id);
	const n = (u.user.data.v || 0) + 1;
	u.user.data = { v: n, pad, w: n };
	u.updatedAt = new Date().toISOString();
	fs.writeFileSync(db, JSON.stringify(users, null, 2));
	saves++;
	sleep(pause);
}
console.log(JSON.stringify({ saves }));
