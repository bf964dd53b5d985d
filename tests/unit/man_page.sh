#!/usr/bin/env bash
# jovofs(8) agrees with --help and the README: every option jovofs's --help
# prints and every -o option of the README's table is in the man page, and
# groff reads the page without a warning.
#   man_page.sh JOVOFS MAN_PAGE README
set -euo pipefail
jovofs=$1 page=$2 readme=$3
fail=0
# the page as a reader sees it: plain text, no overstrike
text="$(groff -man -Tascii -P-cbou "$page" 2>/dev/null)"

warnings="$(groff -man -ww -z "$page" 2>&1 || true)"
if [[ -n "$warnings" ]]; then
	echo "groff warns about $page:" >&2
	echo "$warnings" >&2
	fail=1
fi

# jovofs's own options (above "FUSE options:"), and the FUSE ones it documents
help="$("$jovofs" --help 2>&1 | sed '/^FUSE options:/,$d')"
opts="$(grep -oE -- '(-o [a-z_]+|--[a-z]+)' <<<"$help" | sort -u)"
opts+=$'\n'"-f"$'\n'"-d"$'\n'"-s"$'\n'"--help"$'\n'"--version"
n=0
while read -r opt; do
	[[ -n "$opt" ]] || continue
	n=$((n + 1))
	name="${opt#-o }"
	if ! grep -qE -- "(^|[^a-z_])${name//-/\\-}([^a-z_]|$)" <<<"$text"; then
		echo "option '$opt' of --help is not in $page" >&2
		fail=1
	fi
done <<<"$opts"

# the README's option table
while read -r name; do
	if ! grep -qE -- "-o ${name}([^a-z_]|$)" <<<"$text"; then
		echo "option '-o $name' of the README is not in $page" >&2
		fail=1
	fi
done < <(grep -oE '^\| `-o [a-z_]+' "$readme" | sed 's/^| `-o //' | sort -u)

# the sections the page promises
for s in SYNOPSIS OPTIONS "CONFIGURATION FILE" "THE TREE" "THE STOREDELEMENTS POLICY" \
	"WRITES AND ERRORS" CONSISTENCY CACHING "AWS CREDENTIALS" SIGNALS FILES EXAMPLES; do
	if ! grep -q "^$s" <<<"$text"; then
		echo "section '$s' missing from $page" >&2
		fail=1
	fi
done
echo "$n options checked"
if ((fail)); then
	echo "1 failed"
	exit 1
fi
echo "ok"
