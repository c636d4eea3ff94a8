#!/bin/sh
# As the official nats image: `docker run nats -js` means `nats-server -js`.
set -e
if [ "${1#-}" != "$1" ]; then
	set -- nats-server "$@"
fi
exec "$@"
