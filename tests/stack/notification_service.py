"""A notification service for tests (org.freedesktop.Notifications on the session bus),
in place of a desktop's. Each Notify is appended to LOG as one JSON line
{"id", "replaces_id", "app", "summary", "body", "actions"}; ids count from 1 and a
replaces_id that names a shown notification keeps its id, as the specification says.
Test-only method org.jira_auth_agent.Test.Invoke(u id, s action) emits ActionInvoked, as a
click on that button would.

    notification_service.py LOG      (runs until the bus goes away; prints "ready" first)
"""
import json
import sys

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

PATH = "/org/freedesktop/Notifications"
IFACE = "org.freedesktop.Notifications"
log_path = sys.argv[1]
conn = open_dbus_connection("SESSION")
reply = conn.send_and_get_reply(message_bus.RequestName(IFACE, 4))  # DO_NOT_QUEUE
if reply.body[0] != 1:
    raise SystemExit(f"notification_service: could not own {IFACE} ({reply.body[0]})")
print("ready", flush=True)
shown, next_id = set(), 1
try:
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        if member == "Notify":
            app, replaces, _icon, summary, body, actions, _hints, _timeout = msg.body
            if replaces in shown:
                nid = replaces
            else:
                nid, next_id = next_id, next_id + 1
            shown.add(nid)
            with open(log_path, "a") as f:
                f.write(json.dumps({"id": nid, "replaces_id": replaces, "app": app, "summary": summary,
                                    "body": body, "actions": list(actions)}) + "\n")
            conn.send(new_method_return(msg, "u", (nid,)))
        elif member == "GetCapabilities":
            conn.send(new_method_return(msg, "as", (["actions", "body"],)))
        elif member == "GetServerInformation":
            conn.send(new_method_return(msg, "ssss", ("test-notifications", "jira-auth-agent", "1", "1.2")))
        elif member == "Invoke":
            nid, action = msg.body
            conn.send(new_signal(DBusAddress(PATH, interface=IFACE), "ActionInvoked", "us", (nid, action)))
            conn.send(new_method_return(msg))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))
except (ConnectionResetError, EOFError, OSError):
    pass
