// The one C header of the project: libsecret (Secret Service client) and the GLib pieces
// that the Keyring module needs. Only Keyring imports this module (STYLE §8).
#include <libsecret/secret.h>
