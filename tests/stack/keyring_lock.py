"""Locks or unlocks the login keyring of the test session's gnome-keyring (tests only).

    keyring_lock.py lock
    keyring_lock.py unlock PASSWORD_FILE

`secret-tool lock` waits for a prompt that a headless session never shows, and
`gnome-keyring-daemon --unlock` does not reach a daemon that already runs; the Secret
Service's `Lock` and gnome-keyring's `UnlockWithMasterPassword` do both without a prompt.
"""
import sys

from jeepney import DBusAddress, MessageType, new_method_call
from jeepney.io.blocking import open_dbus_connection

LOGIN = "/org/freedesktop/secrets/collection/login"
SERVICE = DBusAddress("/org/freedesktop/secrets", bus_name="org.freedesktop.secrets",
                      interface="org.freedesktop.Secret.Service")
INTERNAL = DBusAddress("/org/freedesktop/secrets", bus_name="org.freedesktop.secrets",
                       interface="org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface")


def call(connection, address, method, signature, *args):
    reply = connection.send_and_get_reply(new_method_call(address, method, signature, args), timeout=10)
    if reply.header.message_type == MessageType.error:
        raise SystemExit(f"{method}: {reply.header.fields} {reply.body}")
    return reply.body


def main() -> None:
    connection = open_dbus_connection(bus="SESSION")
    if sys.argv[1:] == ["lock"]:
        call(connection, SERVICE, "Lock", "ao", [LOGIN])
    elif len(sys.argv) == 3 and sys.argv[1] == "unlock":
        with open(sys.argv[2], "rb") as f:
            password = f.read()
        _, session = call(connection, SERVICE, "OpenSession", "sv", "plain", ("s", ""))
        call(connection, INTERNAL, "UnlockWithMasterPassword", "o(oayays)", LOGIN,
             (session, b"", password, "text/plain"))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
