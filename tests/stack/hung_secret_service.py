"""A Secret Service that never answers: owns org.freedesktop.secrets on the session bus,
reads and drops every message. Used by scripts/keyring-session.sh hung. Exits with the bus."""
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

conn = open_dbus_connection("SESSION")
reply = conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.secrets", 4))  # 4: DO_NOT_QUEUE
if reply.body[0] != 1:  # 1: PRIMARY_OWNER
    raise SystemExit(f"hung_secret_service: could not own the name ({reply.body[0]})")
try:
    while True:
        conn.receive()  # never reply
except (ConnectionResetError, EOFError, OSError):
    pass
