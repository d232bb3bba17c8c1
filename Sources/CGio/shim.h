// GIO's D-Bus client, for desktop notifications (org.freedesktop.Notifications). Only the
// DesktopNotifications module imports this (STYLE §8). Already loaded by libsecret.
#include <gio/gio.h>
