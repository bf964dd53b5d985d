# shellcheck shell=bash
# FileDb backend of the e2e suites (interface: see the head of common.bash).
# The store is one JSON array file, $JFS_DB, written the way Jovo's
# @jovotech/db-filedb writes it: JSON.stringify(users, null, 2), in place,
# no trailing newline, no lock.

backend_server_start() { :; }
backend_server_stop() { :; }

backend_setup() {
	JFS_DB="$BATS_TEST_TMPDIR/db/db.json"
	mkdir -p "$(dirname "$JFS_DB")"
	printf '[]' >"$JFS_DB"
}

backend_config_json() {
	jq -cn --arg p "$JFS_DB" '{backend: "filedb", filedb: {pathToFile: $p}}'
}

backend_seed() {
	jnode -e '
		const fs = require("fs");
		const [db, seed] = process.argv.slice(1);
		const users = JSON.parse(fs.readFileSync(db, "utf8"));
		for (const item of JSON.parse(fs.readFileSync(seed, "utf8"))) {
			const i = users.findIndex(u => u.id === item.id);
			if (i >= 0) users[i] = item; else users.push(item);
		}
		fs.writeFileSync(db, JSON.stringify(users, null, 2));' "$JFS_DB" "$1"
}

backend_get() {
	jnode -e '
		const fs = require("fs");
		const users = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
		const u = users.find(u => u.id === process.argv[2]);
		if (!u) process.exit(1);
		console.log(JSON.stringify(u));' "$JFS_DB" "$1"
}

backend_ids() {
	jnode -e '
		const fs = require("fs");
		for (const u of JSON.parse(fs.readFileSync(process.argv[1], "utf8")))
			console.log(u.id);' "$JFS_DB"
}
