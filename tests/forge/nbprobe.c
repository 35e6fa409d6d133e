/* nbprobe: a library and a program that know their environment's prefix only through a string
 * compiled into them, as many conda packages do (a binary prefix placeholder the installer
 * rewrites in place, padding with NUL bytes). Built by tests/forge_channel.py. */
#include <stdio.h>

#ifdef NBPROBE_LIBRARY
const char *nbprobe_prefix(void) { return NBPROBE_PREFIX; }
#else
const char *nbprobe_prefix(void);
int main(void) {
    printf("%s\n", nbprobe_prefix());
    printf("%s/share\n", NBPROBE_PREFIX);
    return 0;
}
#endif
