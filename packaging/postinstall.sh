#!/bin/sh
# .deb postinst: the system user the service runs as, then the unit.
set -e
if ! getent group cmca >/dev/null; then
	addgroup --system cmca >/dev/null
fi
if ! getent passwd cmca >/dev/null; then
	adduser --system --ingroup cmca --home /var/lib/cmca --no-create-home --shell /usr/sbin/nologin --gecos "cmca service" cmca >/dev/null
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
	# Not started: the home must be initialised first (cmca init).
	systemctl enable cmca.service >/dev/null || true
fi
