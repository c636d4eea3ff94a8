# Stand-in for the nats image: the nats-server the Go modules pin, started
# the way the official image starts it (arguments starting with "-" go to
# nats-server). The health check needs wget, which the Debian stand-in has.
ARG BASE
FROM ${BASE}
COPY nats-server nats-entrypoint.sh /usr/local/bin/
EXPOSE 4222 6222 8222
ENTRYPOINT ["/usr/local/bin/nats-entrypoint.sh"]
CMD ["nats-server"]
