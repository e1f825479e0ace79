# kinetail %preun. $1: 0 erase, 1 upgrade. On erase: disable, and stop (SIGTERM: the agent sends what
# it read and writes its checkpoints). On upgrade the agent keeps running until %postun restarts it.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable kinetail.service >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        systemctl stop kinetail.service >/dev/null 2>&1 || :
    fi
fi
exit 0
