# kinetail %postun. $1: 0 erase, 1 upgrade. An erase keeps the checkpoints (/var/lib/kinetail) and the
# user, as RPM packages do (no purge in RPM; a reinstall resumes where the agent stopped); modified
# configuration is saved as *.rpmsave by rpm.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    # An upgrade: a running agent moves to the new binary; a stopped one stays stopped.
    if [ "$1" -ge 1 ]; then
        systemctl try-restart kinetail.service >/dev/null 2>&1 || :
    fi
fi
if [ "$1" -eq 0 ]; then
    # Only when empty: the admin's flows stay.
    rmdir /etc/kinetail/agent.d 2>/dev/null || :
    rmdir /etc/kinetail 2>/dev/null || :
fi
exit 0
