# Stand-in for the postgres image: Debian's PostgreSQL with an entrypoint
# that honours the official image's POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB and PGDATA.
ARG BASE
ARG PG_MAJOR=17
FROM ${BASE}
ARG PG_MAJOR
COPY postgres-entrypoint.sh /usr/local/bin/
ENV PGDATA=/var/lib/postgresql/data \
    PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
