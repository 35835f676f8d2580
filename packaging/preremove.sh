#!/bin/sh
# .deb prerm: stop the service; the home in /var/lib/cmca is kept.
set -e
if [ -d /run/systemd/system ]; then
	systemctl disable --now cmca.service >/dev/null || true
fi
