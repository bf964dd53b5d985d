// Writes compare.json: what JavaScript says a condition is for each
// stored value and literal, the reference test_filter.c holds
// jfs_filter_cond_holds() to. Run: node gen_compare.js > compare.json
// Each case: [stored value ("$undefined": absent), op, literal, result].
'use strict';
const values = [
	'$undefined', null, true, false, 0, 1, 500, 600, 499.5, -1, 1e21, 0.1,
	'', ' ', '500', '600', ' 600 ', '\u00a0600\n', '5e2', '0x1f4', '0b1', '0o7', '1_000',
	'Infinity', '-Infinity', 'abc', 'Abc', 'abcd', 'ab', 'é', '\ue000', '\u{1f600}',
	'2026-12-01', '2026-12-01T00:00:00.000Z', '2026-11-30T23:59:59.999Z', 'null', 'true',
	[], [500], ['600'], [1, 2], [null], [[5]], {}, { a: 1 },
];
const literals = [500, 600, 0, -1, 0.1, '500', '600', '2026-12-01', 'abc', 'b', '', '\u{1f600}',
	'\ue000', true, false, null];
const ops = ['=', '!=', '<', '<=', '>', '>=', '~', '?'];
function holds(v, op, lit) {
	switch (op) {
	case '=': return v === lit;
	case '!=': return v !== lit;
	case '<': return v < lit;
	case '<=': return v <= lit;
	case '>': return v > lit;
	case '>=': return v >= lit;
	case '~': return typeof v === 'string' && v.includes(String(lit));
	case '?': return v !== undefined;
	}
}
const out = [];
for (const raw of values) {
	const v = raw === '$undefined' ? undefined : raw;
	for (const op of ops)
		for (const lit of op === '?' ? [null] : literals)
			out.push([raw, op, lit, holds(v, op, lit)]);
}
process.stdout.write('[\n' + out.map(c => JSON.stringify(c)).join(',\n') + '\n]\n');
