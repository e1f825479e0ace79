# kinetail %post. $1: 1 install, 2 upgrade. Enables the service for the next boot but does not start
# it (the example agent.json ships to streams that do not exist). Works without a running systemd.
install -d -m 0750 -o kinetail -g kinetail /var/lib/kinetail || :
# Not in the payload: an empty directory for the admin's flows.
mkdir -p /etc/kinetail/agent.d || :
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
# Only on first install, so that an admin's `systemctl disable` survives upgrades (what %systemd_post
# does, with enable instead of preset so that the RPM behaves like the DEB).
if [ "$1" -eq 1 ]; then
    systemctl --no-reload enable kinetail.service >/dev/null 2>&1 || :
fi
exit 0
