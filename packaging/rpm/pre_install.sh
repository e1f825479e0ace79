# kinetail %pre: the system user exists before the files land. $1: 1 install, 2 upgrade.
# (cargo-generate-rpm does not expand macros, so this is %sysusers/useradd spelled out.)
set -e
getent group kinetail >/dev/null || groupadd -r kinetail
getent passwd kinetail >/dev/null ||
    useradd -r -g kinetail -d /var/lib/kinetail -M -s /sbin/nologin -c "kinetail log shipper" kinetail
# The unit's SupplementaryGroups=adm needs the group to exist (setup ships it on RHEL/Fedora);
# membership also lets `sudo -u kinetail kinetail check` read root:adm logs.
if getent group adm >/dev/null; then
    usermod -a -G adm kinetail
fi
exit 0
