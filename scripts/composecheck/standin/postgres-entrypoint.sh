#!/bin/sh
# The official postgres image's contract, as far as the compose file uses it:
# on an empty $PGDATA, initialise a cluster whose superuser is $POSTGRES_USER
# (default postgres) with $POSTGRES_PASSWORD, create $POSTGRES_DB (default the
# user's name), accept password logins from the network; then run the server
# as the postgres user.
set -eu

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /run/postgresql
	chown -R postgres:postgres "$PGDATA" /run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
	user=${POSTGRES_USER:-postgres}
	db=${POSTGRES_DB:-$user}
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256
	rm -f "$pwfile"
	printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
	if [ "$db" != postgres ]; then
		# Single-user mode: no server listens before the database exists.
		printf 'CREATE DATABASE "%s" OWNER "%s";\n' "$db" "$user" | postgres --single -D "$PGDATA" -j postgres >/dev/null
	fi
fi

if [ "$1" = postgres ]; then
	shift
	set -- postgres -c listen_addresses='*' "$@"
fi
exec "$@"
